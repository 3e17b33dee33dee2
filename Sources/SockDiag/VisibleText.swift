/// Text made safe to show on one line of a terminal: control characters escaped as `\n`, `\r`, `\t` or
/// `\xNN`, and a backslash doubled so that the escapes read back unambiguously.
///
/// The one escaper for text shown to a person, used by SockFormat's tables (a process name may hold a
/// newline) and by error messages that echo input (a filter with a control character in it).
public enum VisibleText {
    /// Appends `text`'s UTF-8 bytes, control characters escaped, to `bytes`.
    @inlinable
    public static func append(_ text: some StringProtocol, to bytes: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigit(byte >> 4), hexDigit(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
    }

    /// `text` with its control characters escaped.
    public static func escaped(_ text: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        append(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @inlinable
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
