import Foundation
import Testing

import SockDiag
import SockScanTestSupport

@testable import SockFormat

/// The allocation-free formatter under every output path.
@Suite("TextWriter")
struct TextWriterTests {
    static func text(_ body: (inout TextWriter) -> Void) -> String {
        var w = TextWriter()
        body(&w)
        return w.string
    }

    @Test func unsignedDecimal() {
        #expect(Self.text { $0.write(UInt8(0)) } == "0")
        #expect(Self.text { $0.write(UInt64(0)) } == "0")
        #expect(Self.text { $0.write(UInt8(255)) } == "255")
        #expect(Self.text { $0.write(UInt16(65535)) } == "65535")
        #expect(Self.text { $0.write(UInt32(1_000_000)) } == "1000000")
        #expect(Self.text { $0.write(UInt64.max) } == "18446744073709551615")
        #expect(Self.text { $0.write(UInt64(10_000_000_000_000_000_000)) } == "10000000000000000000")
        for v: UInt64 in [1, 9, 10, 99, 100, 12345, 1 << 32, 1 << 63] {
            #expect(Self.text { $0.write(v) } == String(v))
        }
    }

    @Test func signedDecimal() {
        #expect(Self.text { $0.write(signed: 0) } == "0")
        #expect(Self.text { $0.write(signed: -1) } == "-1")
        #expect(Self.text { $0.write(signed: Int64.max) } == "9223372036854775807")
        #expect(Self.text { $0.write(signed: Int64.min) } == "-9223372036854775808")
    }

    @Test(arguments: [
        (UInt64(0), "0.000"), (1, "0.001"), (10, "0.010"), (999, "0.999"), (1000, "1.000"), (1234, "1.234"),
        (60_050, "60.050"), (UInt64.max, "18446744073709551.615"),
    ])
    func thousandths(value: UInt64, text: String) {
        #expect(Self.text { $0.write(thousandths: value) } == text)
    }

    @Test(arguments: [(UInt16(0), "0"), (0xF, "f"), (0xF00, "f00"), (0xABCD, "abcd"), (0x0DB8, "db8"), (0x10, "10")])
    func hex(value: UInt16, text: String) {
        #expect(Self.text { $0.write(hex: value) } == text)
    }

    @Test func padAndBytes() {
        #expect(
            Self.text {
                $0.pad(3); $0.write(byte: UInt8(ascii: "x")); $0.pad(0); $0.pad(-2)
            } == "   x")
        #expect(Self.text { $0.pad(2, with: UInt8(ascii: "0")) } == "00")
    }

    @Test func removeAllKeepsCapacity() {
        var w = TextWriter(capacity: 1024)
        w.write("hello")
        #expect(w.count == 5)
        w.removeAll()
        #expect(w.count == 0)
        #expect(w.bytes.capacity >= 1024)
    }

    /// JSON string literals: every escape the format needs, and UTF-8 passed through; each result parses
    /// back (Foundation) to the original string.
    @Test(arguments: [
        ("plain", #""plain""#),
        ("", #""""#),
        ("say \"hi\"", #""say \"hi\"""#),
        ("C:\\path", #""C:\\path""#),
        ("a\nb\rc\td", #""a\nb\rc\td""#),
        ("\u{0}\u{1}\u{1F}", #""\u0000\u0001\u001f""#),
        ("\u{8}\u{C}", #""\u0008\u000c""#),
        ("é ☃ 🙂", "\"é ☃ 🙂\""),
        ("\u{7F}</script>", "\"\u{7F}</script>\""),
    ])
    func jsonString(input: String, literal: String) throws {
        let out = Self.text { $0.writeJSONString(input) }
        #expect(out == literal)
        let parsed = try JSONSerialization.jsonObject(with: Data(("[" + out + "]").utf8)) as? [String]
        #expect(parsed == [input])
    }

    @Test func flushWritesAndClears() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        var w = TextWriter()
        w.write("line one\n")
        w.write(UInt64(42))
        try w.flush(to: fds[1])
        #expect(w.count == 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fds[0], &buffer, buffer.count)
        #expect(String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self) == "line one\n42")
    }

    @Test func flushToBadDescriptor() {
        var w = TextWriter()
        w.write("x")
        #expect(throws: OutputError.failed(errno: EBADF)) { try w.flush(to: -1) }
        #expect(w.count == 0)
    }

    /// A table cell stays on one line: control characters escaped, a backslash doubled, the rest as is.
    @Test(
        arguments: [
            ("nginx", "nginx"), ("a\nb", "a\\nb"), ("tab\there", "tab\\there"), ("cr\r", "cr\\r"),
            ("\u{1}x\u{7F}", "\\x01x\\x7f"), ("back\\slash", "back\\\\slash"), ("été", "été"),
        ])
    func tableText(text: String, written: String) {
        var w = TextWriter()
        w.writeTableText(text)
        #expect(w.string == written)
    }

    /// Fixed decimals as sar prints averages: rounded half away from zero, a minus only when something is left.
    @Test(
        arguments: [
            (2.5, 2, "2.50"), (0, 2, "0.00"), (1234.5678, 1, "1234.6"), (0.125, 2, "0.13"), (-0.125, 2, "-0.13"),
            (-0.004, 2, "0.00"), (7, 0, "7"), (0.05, 1, "0.1"), (99.96, 1, "100.0"), (.infinity, 2, "-"),
            (.nan, 1, "-"), (3.14159, 4, "3.1416"), (0.0001, 4, "0.0001"),
        ] as [(Double, Int, String)])
    func fixedDecimals(value: Double, decimals: Int, written: String) {
        #expect(TextWriter.string { $0.write(value, decimals: decimals) } == written)
    }

    @Test(arguments: [(0.975, "97.5%"), (1, "100.0%"), (0, "0.0%"), (0.12345, "12.3%"), (Double.nan, "-")])
    func percent(fraction: Double, written: String) {
        #expect(TextWriter.string { $0.write(percent: fraction) } == written)
    }

    /// XML text for SVG: the five entities, control characters (not allowed in XML 1.0) as `?`.
    @Test(
        arguments: [
            ("a & b <c>", "a &amp; b &lt;c&gt;"), ("say \"hi\" 'x'", "say &quot;hi&quot; &apos;x&apos;"),
            ("tab\tnl\ncr\r", "tab\tnl\ncr\r"), ("bell\u{7}", "bell?"), ("été", "été"),
        ])
    func xmlText(text: String, written: String) {
        #expect(TextWriter.string { $0.writeXMLText(text) } == written)
    }

    /// The writer prints IPv6 addresses exactly as glibc's `inet_ntop` (and so the model's `description`) does,
    /// over addresses with zero runs of every length and position.
    @Test func ipv6AsInetNtop() {
        var random = SplitMix64(seed: 0x5eed)
        for _ in 0..<20_000 {
            var groups = (0..<8).map { _ in UInt16(truncatingIfNeeded: random.next()) }
            for i in 0..<8 where random.next() % 3 == 0 { groups[i] = 0 }
            if random.next() % 5 == 0 { groups[0...4] = [0, 0, 0, 0, 0] }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
            for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
            let address = IPv6Address(high: high, low: low)
            #expect(TextWriter.string { $0.write(address) } == address.description)
        }
        for text in ["::", "::1", "::ffff:1.2.3.4", "::1.2.3.4", "2001:db8::1", "1:0:0:1::1", "::0.1.0.2"] {
            let address = IPv6Address(text)!
            #expect(TextWriter.string { $0.write(address) } == address.description, "\(text)")
        }
    }
}
