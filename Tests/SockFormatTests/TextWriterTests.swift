import Foundation
import Testing

import SockDiag

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
}
