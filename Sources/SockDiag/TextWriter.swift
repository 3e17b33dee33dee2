#if canImport(Glibc)
    import Glibc
#endif

/// An append-only byte buffer for formatting records without allocating per record.
///
/// Numbers and addresses are written as ASCII digits straight into the buffer; the buffer keeps its
/// capacity when cleared, so a loop that formats and flushes each record reuses the same storage.
public struct TextWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates an empty writer with room for `capacity` bytes.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The bytes as a string.
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Bytes written.
    public var count: Int { bytes.count }

    /// Forgets the bytes, keeping the capacity.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// Appends one byte.
    public mutating func write(byte: UInt8) { bytes.append(byte) }

    /// Appends a string's UTF-8 bytes.
    public mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends a string's UTF-8 bytes.
    public mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `count` copies of `byte` (column padding).
    public mutating func pad(_ count: Int, with byte: UInt8 = UInt8(ascii: " ")) {
        if count > 0 { bytes.append(contentsOf: repeatElement(byte, count: count)) }
    }

    /// Appends an unsigned number in decimal.
    public mutating func write(_ value: some UnsignedInteger & FixedWidthInteger) {
        var v = UInt64(value)
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var n = 0
        withUnsafeMutableBytes(of: &digits) { buf in
            while v > 0 {
                buf[23 - n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[(24 - n)...]))
        }
    }

    /// Appends a signed number in decimal.
    public mutating func write(signed value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            write(value.magnitude)
        } else {
            write(UInt64(value))
        }
    }

    /// Appends a number of thousandths as `I.FFF` (`1.234`), trailing zeros kept.
    public mutating func write(thousandths value: UInt64) {
        write(value / 1000)
        bytes.append(UInt8(ascii: "."))
        let frac = value % 1000
        if frac < 100 { bytes.append(UInt8(ascii: "0")) }
        if frac < 10 { bytes.append(UInt8(ascii: "0")) }
        write(frac)
    }

    /// Appends a lower-case hexadecimal number without leading zeros.
    public mutating func write(hex value: UInt16) {
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt16(shift)) & 0xF
            if nibble != 0 || started || shift == 0 {
                started = true
                bytes.append(nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10)
            }
        }
    }

    /// Appends an IPv4 address in dotted-quad form.
    public mutating func write(_ address: IPv4Address) {
        write(address.value >> 24)
        bytes.append(UInt8(ascii: "."))
        write(address.value >> 16 & 0xFF)
        bytes.append(UInt8(ascii: "."))
        write(address.value >> 8 & 0xFF)
        bytes.append(UInt8(ascii: "."))
        write(address.value & 0xFF)
    }

    /// Appends an IPv6 address in RFC 5952 form, exactly as glibc's `inet_ntop` prints it.
    public mutating func write(_ address: IPv6Address) {
        if let v4 = address.mappedIPv4 {
            write("::ffff:")
            write(v4)
            return
        }
        // inet_ntop, and so ss, prints the IPv4-compatible form (RFC 4291 2.5.5.1) as ::a.b.c.d too: six
        // zero groups, then a non-zero seventh (::1:2 prints as ::0.1.0.2, ::1 stays ::1).
        if address.high == 0, address.low >> 32 == 0, address.low >> 16 != 0 {
            write("::")
            write(IPv4Address(UInt32(truncatingIfNeeded: address.low)))
            return
        }
        @inline(__always) func group(_ i: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (i < 4 ? address.high : address.low) >> (UInt64(3 - i % 4) * 16))
        }
        // The longest run of two or more zero groups, the first one on a tie.
        var bestStart = -1
        var bestLength = 1
        var runStart = -1
        for i in 0..<8 {
            if group(i) == 0 {
                if runStart < 0 { runStart = i }
                if i - runStart + 1 > bestLength {
                    bestStart = runStart
                    bestLength = i - runStart + 1
                }
            } else {
                runStart = -1
            }
        }
        var i = 0
        while i < 8 {
            if i == bestStart {
                write("::")
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength {  // not right after "::"
                bytes.append(UInt8(ascii: ":"))
            }
            write(hex: group(i))
            i += 1
        }
    }

    /// Appends an address.
    public mutating func write(_ address: IPAddress) {
        switch address {
        case .v4(let a): write(a)
        case .v6(let a): write(a)
        }
    }

    /// Appends `address:port` the way `ss -n` does: IPv6 in brackets; with `star`, an unspecified
    /// address as `*` (and a zero port as `*` too).
    public mutating func writeEndpoint(_ endpoint: Endpoint, star: Bool) {
        if star && endpoint.address.isUnspecified {
            bytes.append(UInt8(ascii: "*"))
        } else {
            switch endpoint.address {
            case .v4(let a): write(a)
            case .v6(let a):
                bytes.append(UInt8(ascii: "["))
                write(a)
                bytes.append(UInt8(ascii: "]"))
            }
        }
        bytes.append(UInt8(ascii: ":"))
        if star && endpoint.port == 0 {
            bytes.append(UInt8(ascii: "*"))
        } else {
            write(endpoint.port)
        }
    }

    /// Appends a JSON string literal (quotes and escapes included).
    public mutating func writeJSONString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): write("\\\"")
            case UInt8(ascii: "\\"): write("\\\\")
            case UInt8(ascii: "\n"): write("\\n")
            case UInt8(ascii: "\r"): write("\\r")
            case UInt8(ascii: "\t"): write("\\t")
            case 0..<0x20:
                write("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends text for a table cell, one line whatever it holds: control characters escaped as `\n`,
    /// `\r`, `\t` or `\xNN` (a process name may hold a newline), and a backslash doubled so that the
    /// escapes read back unambiguously.
    public mutating func writeTableText(_ text: String) {
        let hex: StaticString = "0123456789abcdef"
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): write("\\\\")
            case UInt8(ascii: "\n"): write("\\n")
            case UInt8(ascii: "\r"): write("\\r")
            case UInt8(ascii: "\t"): write("\\t")
            case 0..<0x20, 0x7F:
                write("\\x")
                bytes.append(hex.utf8Start[Int(byte >> 4)])
                bytes.append(hex.utf8Start[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
    }

    /// Appends a CSV field, quoted as RFC 4180 asks: in double quotes when it holds a comma, a double
    /// quote, CR or LF (or starts or ends with a space), each double quote doubled; as it is otherwise.
    public mutating func writeCSVField(_ text: String) {
        let utf8 = text.utf8
        let needsQuotes =
            utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
            || utf8.first == UInt8(ascii: " ") || utf8.last == UInt8(ascii: " ")
        guard needsQuotes else {
            write(text)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        for byte in utf8 {
            if byte == UInt8(ascii: "\"") { bytes.append(byte) }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes the bytes to a file descriptor and clears the buffer.
    ///
    /// - Throws: ``OutputError/closed`` when the reader went away (`EPIPE`), so a caller piping into
    ///   `head` can stop quietly; ``OutputError/failed(errno:)`` for other write errors.
    public mutating func flush(to fd: Int32) throws(OutputError) {
        var offset = 0
        let total = bytes.count
        while offset < total {
            let n = bytes.withUnsafeBytes { buf in
                Glibc.write(fd, buf.baseAddress! + offset, total - offset)
            }
            if n < 0 {
                let err = errno
                if err == EINTR { continue }
                bytes.removeAll(keepingCapacity: true)
                throw err == EPIPE ? .closed : .failed(errno: err)
            }
            offset += n
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

/// Why writing output failed.
public enum OutputError: Error, Hashable, Sendable {
    /// The reader closed the pipe (`EPIPE`): stop quietly.
    case closed
    /// Another write error.
    case failed(errno: Int32)
}
