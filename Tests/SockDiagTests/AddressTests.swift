import SockScanTestSupport
import Testing

@testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Address parsing and the text `ss` prints, checked against glibc's `inet_ntop`/`inet_pton`.
@Suite("Addresses and endpoints")
struct AddressTests {
    // MARK: IPv4

    @Test(arguments: [
        ("0.0.0.0", UInt32(0)), ("127.0.0.1", 0x7F00_0001), ("255.255.255.255", 0xFFFF_FFFF),
        ("192.0.2.1", 0xC000_0201), ("10.0.0.10", 0x0A00_000A), ("1.2.3.4", 0x0102_0304),
    ])
    func ipv4Parses(text: String, value: UInt32) throws {
        let a = try #require(IPv4Address(text))
        #expect(a.value == value)
        #expect(a.description == text)
        #expect(IPAddress(text) == .v4(a))
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.", ".1.2.3", "1..2.3", "1.2.3.4.", "1.2.3.4.5", "256.1.1.1", "1.2.3.256",
        "1.2.3.1000", "01.2.3.4", "1.02.3.4", "1.2.3.00", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "1.2.3.4/8", "a.b.c.d",
        "0x1.2.3.4", "4294967295",
    ])
    func ipv4Rejects(text: String) {
        #expect(IPv4Address(text) == nil)
        // glibc agrees: inet_pton refuses these too.
        var storage = in_addr()
        #expect(inet_pton(AF_INET, text, &storage) != 1)
    }

    // MARK: IPv6 text

    /// RFC 5952 cases: lower case, no leading zeros, the longest (first on a tie) run of two or more zero
    /// groups as `::`, a single zero group kept, IPv4-mapped in dotted form.
    @Test(arguments: [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  // tie: the first run
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),  // the longer run
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),  // one zero group is not shortened
        ("2001:0db8:00AB:0000:0000:0000:0001:0000", "2001:db8:ab::1:0"),
        ("fe80::1:2:3:4", "fe80::1:2:3:4"),
        ("1:0:0:0:0:0:0:0", "1::"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),  // IPv4-mapped
        ("::ffff:0:0", "::ffff:0.0.0.0"),
        ("::ffff:c000:201", "::ffff:192.0.2.1"),
        ("0:0:0:0:1:ffff:c000:201", "::1:ffff:c000:201"),  // not mapped
        ("64:ff9b::c000:201", "64:ff9b::c000:201"),
        ("::1:0:0", "::1:0:0"),
        ("::1.2.3.4", "::1.2.3.4"),  // IPv4-compatible (deprecated), as inet_ntop prints it
        ("::1:2", "::0.1.0.2"),  // the same shape
        ("::0:1", "::1"),  // not: the seventh group is zero
    ])
    func ipv6Text(input: String, expected: String) throws {
        let a = try #require(IPv6Address(input))
        #expect(a.description == expected)
        #expect(a.description == Self.ntop(a))
        #expect(IPv6Address(a.description) == a)
    }

    /// glibc's text for an address.
    static func ntop(_ a: IPv6Address) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: a.high >> UInt64(56 - 8 * i)) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: a.low >> UInt64(56 - 8 * i)) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = inet_ntop(AF_INET6, bytes, &text, socklen_t(text.count))
        precondition(ok != nil)
        return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Random addresses with a fixed seed, many with zero runs (each group zero with probability 1/2, so runs of
    /// every length and position occur, all-zero prefixes included), compared with inet_ntop.
    @Test func randomIPv6MatchesInetNtop() {
        var rng = SplitMix64(seed: 5952)
        var mismatches: [String] = []
        for round in 0..<20_000 {
            var groups = [UInt16](repeating: 0, count: 8)
            for i in 0..<8 {
                switch UInt8.random(in: 0..<8, using: &rng) {
                case 0..<4: groups[i] = 0
                case 4: groups[i] = UInt16.random(in: 1...0xF, using: &rng)  // short groups: leading zeros dropped
                default: groups[i] = UInt16.random(in: 1...0xFFFF, using: &rng)
                }
            }
            if round % 50 == 0 { groups[5] = 0xFFFF }  // sometimes IPv4-mapped-like
            var a = IPv6Address(high: 0, low: 0)
            for i in 0..<4 { a.high = a.high << 16 | UInt64(groups[i]) }
            for i in 4..<8 { a.low = a.low << 16 | UInt64(groups[i]) }
            let ours = a.description
            let glibc = Self.ntop(a)
            if ours != glibc { mismatches.append("\(glibc) printed as \(ours)") }
            if IPv6Address(ours) != a { mismatches.append("\(ours) does not parse back") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(5))")
    }

    @Test func mappedIPv4() {
        let a = IPv6Address(mapping: IPv4Address(192, 0, 2, 1))
        #expect(a.high == 0 && a.low == 0x0000_FFFF_C000_0201)
        #expect(a.mappedIPv4 == IPv4Address(192, 0, 2, 1))
        #expect(IPv6Address.loopback.mappedIPv4 == nil)
        #expect(IPv6Address(high: 1, low: 0x0000_FFFF_C000_0201).mappedIPv4 == nil)
        #expect(a.groups == [0, 0, 0, 0, 0, 0xFFFF, 0xC000, 0x0201])
    }

    @Test func networkBytes() {
        let bytes: [UInt8] = [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xAB, 0xCD]
        let a = bytes.withUnsafeBytes { IPv6Address(networkBytes: $0) }
        #expect(a.high == 0x2001_0DB8_0000_0000)
        #expect(a.low == 0xABCD)
        #expect(a.description == "2001:db8::abcd")
    }

    // MARK: IPAddress

    @Test func bracketedIPv6() {
        #expect(IPAddress("[::1]") == .v6(.loopback))
        #expect(IPAddress("::1") == .v6(.loopback))
        #expect(IPAddress("[2001:db8::1]") == .v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1)))
        #expect(IPAddress("[::ffff:10.0.0.1]") == .v6(IPv6Address(mapping: IPv4Address(10, 0, 0, 1))))
        #expect(IPAddress("[1.2.3.4]") == nil)  // brackets are for IPv6 only
        #expect(IPAddress("[::1") == nil)
        #expect(IPAddress("::1]") == nil)
        #expect(IPAddress("[]") == nil)
        #expect(IPAddress("[::1]:80") == nil)  // a port is not an address
        #expect(IPAddress("") == nil)
        #expect(IPAddress("localhost") == nil)
        #expect(IPAddress("1.2.3.4")?.family == .inet)
        #expect(IPAddress("::")?.family == .inet6)
        #expect(IPAddress("::")?.isUnspecified == true)
        #expect(IPAddress("0.0.0.0")?.isUnspecified == true)
        #expect(IPAddress("::1")?.isUnspecified == false)
    }

    @Test func ordering() {
        #expect(IPv4Address(10, 0, 0, 1) < IPv4Address(10, 0, 0, 2))
        #expect(IPv4Address(9, 255, 255, 255) < IPv4Address(10, 0, 0, 0))
        #expect(IPv6Address(high: 0, low: .max) < IPv6Address(high: 1, low: 0))
    }

    // MARK: Endpoint

    @Test(arguments: [
        (Endpoint(address: .v4(IPv4Address(127, 0, 0, 1)), port: 80), "127.0.0.1:80"),
        (Endpoint(address: .v4(.any), port: 22), "*:22"),
        (Endpoint(address: .v4(.any), port: 0), "*:*"),
        (Endpoint(address: .v4(IPv4Address(10, 0, 0, 1)), port: 0), "10.0.0.1:*"),
        (Endpoint(address: .v6(.loopback), port: 443), "[::1]:443"),
        (Endpoint(address: .v6(.any), port: 443), "*:443"),
        (Endpoint(address: .v6(IPv6Address(mapping: .loopback)), port: 65535), "[::ffff:127.0.0.1]:65535"),
    ])
    func endpointDescription(endpoint: Endpoint, text: String) {
        #expect(endpoint.description == text)
    }
}
