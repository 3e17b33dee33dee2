#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 address, held as a 32-bit number in host byte order (`127.0.0.1` is `0x7F00_0001`).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address as a number: the first octet in the most significant byte.
    public var value: UInt32

    /// Creates an address from its numeric value (host byte order).
    public init(_ value: UInt32) { self.value = value }

    /// Creates an address from four octets, most significant first.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text (`192.0.2.1`); returns `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        var octets: UInt32 = 0
        var current: UInt32 = 0
        var digits = 0
        var parts = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                octets = octets << 8 | current
                parts += 1
                current = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                // A leading zero is ambiguous (octal in inet_aton): refuse it like inet_pton.
                if digits == 1 && current == 0 { return nil }
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        value = octets << 8 | current
    }

    /// `0.0.0.0`.
    public static let any = IPv4Address(0)
    /// `127.0.0.1`.
    public static let loopback = IPv4Address(127, 0, 0, 1)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public var description: String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }
}

extension IPv4Address {
    /// Parses an IPv4 address as iproute2 reads one (`ss` and `ip` arguments): one to four dot-separated
    /// numbers, each decimal, octal (`0177`) or hexadecimal (`0x7f`) and at most 255; the bytes not given are
    /// zero, so `10.8` is `10.8.0.0` and `127.1` is `127.1.0.0` (not `inet_aton`'s `127.0.0.1`).
    init?(iproute2 text: some StringProtocol) {
        guard let parts = CNumber.dottedParts(text), parts.allSatisfy({ $0 <= 255 }) else { return nil }
        value = parts.enumerated().reduce(0) { $0 | UInt32($1.element) << (24 - 8 * UInt32($1.offset)) }
    }

    /// Parses the numbers `inet_aton(3)` reads: one to four dot-separated numbers (decimal, octal or
    /// hexadecimal), the last filling the bytes left, so `127.1` and `2130706433` are both `127.0.0.1`.
    init?(inetAton text: some StringProtocol) {
        guard let parts = CNumber.dottedParts(text) else { return nil }
        let leading = parts.dropLast()
        let lastBits = 32 - 8 * UInt64(leading.count)
        guard leading.allSatisfy({ $0 <= 255 }), parts.last! < UInt64(1) << lastBits else { return nil }
        value = leading.enumerated().reduce(UInt32(parts.last!)) {
            $0 | UInt32($1.element) << (24 - 8 * UInt32($1.offset))
        }
    }
}

/// Unsigned numbers as C's `strtoul(text, &end, 0)` reads them: `0x` hexadecimal, a leading `0` octal, else
/// decimal; no sign and no blanks.
enum CNumber {
    /// The whole of `text` as one number; `nil` when anything is left over or it does not fit 64 bits.
    static func parse(_ text: some StringProtocol) -> UInt64? {
        let bytes = Array(text.utf8)
        guard let (value, length) = prefix(bytes[...]), length == bytes.count else { return nil }
        return value
    }

    /// One to four numbers separated by single dots, nothing else.
    static func dottedParts(_ text: some StringProtocol) -> [UInt64]? {
        var rest = Array(text.utf8)[...]
        var parts: [UInt64] = []
        while parts.count < 4 {
            guard let (value, length) = prefix(rest) else { return nil }
            parts.append(value)
            rest = rest.dropFirst(length)
            guard let separator = rest.first else { return parts }
            guard separator == UInt8(ascii: "."), rest.count > 1 else { return nil }
            rest = rest.dropFirst()
        }
        return nil
    }

    /// The number at the start of `bytes` and how many bytes it took, as `strtoul` with base 0 (`0x` followed
    /// by no hex digit reads as `0`); `nil` when there is no digit or the value does not fit 64 bits.
    static func prefix(_ bytes: ArraySlice<UInt8>) -> (value: UInt64, length: Int)? {
        func digit(_ byte: UInt8) -> UInt64? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt64(byte - UInt8(ascii: "A") + 10)
            default: nil
            }
        }
        var index = bytes.startIndex
        guard index < bytes.endIndex, let first = digit(bytes[index]), first < 10 else { return nil }
        var base: UInt64 = 10
        if first == 0 {
            base = 8
            let x = index + 1
            if x + 1 < bytes.endIndex, bytes[x] | 0x20 == UInt8(ascii: "x"), digit(bytes[x + 1]) != nil {
                base = 16
                index = x + 1
            }
        }
        var value: UInt64 = 0
        while index < bytes.endIndex, let d = digit(bytes[index]), d < base {
            let (times, o1) = value.multipliedReportingOverflow(by: base)
            let (sum, o2) = times.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            value = sum
            index += 1
        }
        return (value, index - bytes.startIndex)
    }
}

/// An IPv6 address, held as two 64-bit halves in host byte order (`high` holds the first eight octets).
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first eight octets; the first octet in the most significant byte.
    public var high: UInt64
    /// The last eight octets.
    public var low: UInt64

    /// Creates an address from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The IPv4-mapped form `::ffff:a.b.c.d` of an IPv4 address.
    public init(mapping v4: IPv4Address) {
        high = 0
        low = 0xFFFF_0000_0000 | UInt64(v4.value)
    }

    /// Parses RFC 4291 text (`2001:db8::1`, `::ffff:192.0.2.1`); returns `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        var storage = in6_addr()
        let ok = String(text).withCString { inet_pton(AF_INET6, $0, &storage) }
        guard ok == 1 else { return nil }
        self = withUnsafeBytes(of: &storage) { IPv6Address(networkBytes: $0) }
    }

    /// Reads 16 bytes in network order.
    @inlinable
    public init(networkBytes bytes: UnsafeRawBufferPointer) {
        high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// `::`.
    public static let any = IPv6Address(high: 0, low: 0)
    /// `::1`.
    public static let loopback = IPv6Address(high: 0, low: 1)

    /// The IPv4 address inside an IPv4-mapped address (`::ffff:a.b.c.d`), or `nil`.
    public var mappedIPv4: IPv4Address? {
        guard high == 0, low >> 32 == 0xFFFF else { return nil }
        return IPv4Address(UInt32(truncatingIfNeeded: low))
    }

    /// The eight 16-bit groups, first group first.
    public var groups: [UInt16] {
        (0..<8).map { i in
            let half = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: half >> (UInt64(3 - i % 4) * 16))
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }

    /// RFC 5952 text: lower-case hex, the longest run of two or more zero groups as `::`,
    /// IPv4-mapped addresses as `::ffff:a.b.c.d` and IPv4-compatible ones as `::a.b.c.d` (what `ss` and
    /// `inet_ntop` print).
    public var description: String {
        // glibc's inet_ntop: the core formats nothing itself (SockFormat's allocation-free writer prints the
        // same text, and is tested against this).
        var bytes = (UInt64(bigEndian: high), UInt64(bigEndian: low))
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = withUnsafeBytes(of: &bytes) { inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        guard ok != nil else { return "::" }  // only for a buffer too small, which INET6_ADDRSTRLEN is not
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses an IPv4 or IPv6 address; IPv6 may be written in brackets (`[::1]`).
    public init?(_ text: some StringProtocol) {
        if let v4 = IPv4Address(text) {
            self = .v4(v4)
        } else if text.hasPrefix("["), text.hasSuffix("]"), let v6 = IPv6Address(text.dropFirst().dropLast()) {
            self = .v6(v6)
        } else if let v6 = IPv6Address(text) {
            self = .v6(v6)
        } else {
            return nil
        }
    }

    /// The family of the address.
    public var family: AddressFamily {
        switch self {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    /// Whether this is the unspecified address (`0.0.0.0` or `::`).
    public var isUnspecified: Bool {
        switch self {
        case .v4(let a): a.value == 0
        case .v6(let a): a.high == 0 && a.low == 0
        }
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }
}

/// An address and a port: one end of a socket.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The address (the unspecified `0.0.0.0` or `::` for a socket bound to every address).
    public var address: IPAddress
    /// The port, host byte order (0 for none).
    public var port: UInt16

    /// The end at `address` and `port`.
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `ss`'s form: `127.0.0.1:80`, `[::1]:80`, `*:80` for an unspecified address.
    public var description: String {
        let host: String
        switch address {
        case _ where address.isUnspecified: host = "*"
        case .v4(let a): host = a.description
        case .v6(let a): host = "[\(a)]"
        }
        return port == 0 ? "\(host):*" : "\(host):\(port)"
    }
}
