import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// An append-only byte buffer for formatting records without allocating per record.
///
/// Numbers and addresses are written as ASCII digits straight into the buffer; the buffer keeps its
/// capacity when cleared, so a loop that formats and flushes each record reuses the same storage.
/// Text is formatted through a ``ByteCursor`` on a stack scratch area and appended to the array in one
/// piece: one capacity and uniqueness check per call rather than per field.
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

    /// Largest `maxCount` of ``append(maxCount:_:)``: the stack scratch area.
    static let scratchSize = 1024

    /// Formats at most `maxCount` bytes (at most ``scratchSize``) through a cursor and appends them in one piece.
    ///
    /// The cursor traps rather than write past `maxCount`, so a wrong bound is a crash, never corruption.
    @inline(__always)
    mutating func append(maxCount: Int, _ body: (inout ByteCursor) -> Void) {
        precondition(maxCount <= Self.scratchSize)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.scratchSize) { scratch in
            var cursor = ByteCursor(base: scratch.baseAddress!, capacity: maxCount)
            body(&cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(start: cursor.base, count: cursor.count))
        }
    }

    /// Appends one byte.
    public mutating func write(byte: UInt8) { bytes.append(byte) }

    /// Appends a string's UTF-8 bytes.
    public mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends a string's UTF-8 bytes.
    public mutating func write(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
            bytes.append(contentsOf: text.utf8)
        }
    }

    /// Appends `count` copies of `byte` (column padding).
    public mutating func pad(_ count: Int, with byte: UInt8 = UInt8(ascii: " ")) {
        if count > 0 { bytes.append(contentsOf: repeatElement(byte, count: count)) }
    }

    /// Appends an unsigned number in decimal.
    public mutating func write(_ value: some UnsignedInteger & FixedWidthInteger) {
        append(maxCount: 20) { $0.decimal(UInt64(value)) }
    }

    /// Appends a signed number in decimal.
    public mutating func write(signed value: Int64) {
        append(maxCount: 21) { $0.decimal(signed: value) }
    }

    /// Appends a number of thousandths as `I.FFF` (`1.234`), trailing zeros kept.
    public mutating func write(thousandths value: UInt64) {
        append(maxCount: 21) { $0.thousandths(value) }
    }

    /// Appends a lower-case hexadecimal number without leading zeros.
    public mutating func write(hex value: UInt16) {
        append(maxCount: 4) { $0.hex(value) }
    }

    /// Appends an IPv4 address in dotted-quad form.
    public mutating func write(_ address: IPv4Address) {
        append(maxCount: ByteCursor.maxIPv4) { $0.address(address) }
    }

    /// Appends an IPv6 address in RFC 5952 form, exactly as glibc's `inet_ntop` prints it.
    public mutating func write(_ address: IPv6Address) {
        append(maxCount: ByteCursor.maxIPv6) { $0.address(address) }
    }

    /// Appends an address.
    public mutating func write(_ address: IPAddress) {
        append(maxCount: ByteCursor.maxIPv6) { $0.address(address) }
    }

    /// Appends `address:port` the way `ss -n` does: IPv6 in brackets; with `star`, an unspecified
    /// address as `*` (and a zero port as `*` too).
    public mutating func writeEndpoint(_ endpoint: Endpoint, star: Bool) {
        append(maxCount: ByteCursor.maxIPv6 + 8) { c in
            if star && endpoint.address.isUnspecified {
                c.byte(UInt8(ascii: "*"))
            } else {
                switch endpoint.address {
                case .v4(let a): c.address(a)
                case .v6(let a):
                    c.byte(UInt8(ascii: "["))
                    c.address(a)
                    c.byte(UInt8(ascii: "]"))
                }
            }
            c.byte(UInt8(ascii: ":"))
            if star && endpoint.port == 0 {
                c.byte(UInt8(ascii: "*"))
            } else {
                c.decimal(UInt64(endpoint.port))
            }
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
                bytes.append(ByteCursor.hexDigit(byte >> 4))
                bytes.append(ByteCursor.hexDigit(byte & 0xF))
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends text for a table cell, one line whatever it holds: control characters escaped as `\n`,
    /// `\r`, `\t` or `\xNN` (a process name may hold a newline), and a backslash doubled so that the
    /// escapes read back unambiguously.
    public mutating func writeTableText(_ text: String) {
        VisibleText.append(text, to: &bytes)
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

    /// Appends text for XML content and attribute values (SVG): `& < > " '` as entities, and control
    /// characters, which XML 1.0 does not allow, as `?` (tab, newline and carriage return stay).
    public mutating func writeXMLText(_ text: String) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): write("&amp;")
            case UInt8(ascii: "<"): write("&lt;")
            case UInt8(ascii: ">"): write("&gt;")
            case UInt8(ascii: "\""): write("&quot;")
            case UInt8(ascii: "'"): write("&apos;")
            case 0x09, 0x0A, 0x0D: bytes.append(byte)
            case 0..<0x20: bytes.append(UInt8(ascii: "?"))
            default: bytes.append(byte)
            }
        }
    }

    /// Appends `value` with `decimals` decimals (`12.50`), rounded half away from zero; `-` when it is not
    /// finite.
    public mutating func write(_ value: Double, decimals: Int) {
        precondition((0...18).contains(decimals))
        append(maxCount: 42 + decimals) { $0.fixed(value, decimals: decimals) }
    }

    /// Appends a fraction as a percentage with one decimal, rounded (`0.975` as `97.5%`); `-` when it is not
    /// finite.
    public mutating func write(percent fraction: Double) {
        guard fraction.isFinite else { return write(byte: UInt8(ascii: "-")) }
        let tenths = Int64((fraction * 1000).rounded())
        write(signed: tenths / 10)
        write(byte: UInt8(ascii: "."))
        write(signed: tenths % 10)
        write(byte: UInt8(ascii: "%"))
    }

    /// What `body` writes, as a string.
    public static func string(_ body: (inout TextWriter) -> Void) -> String {
        var writer = TextWriter()
        body(&writer)
        return writer.string
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

/// Raw output memory whose room is checked once per primitive: the formatting core of ``TextWriter``.
///
/// Every primitive checks that what it may write fits before writing, and traps otherwise.
@usableFromInline
struct ByteCursor {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    /// Bytes written.
    private(set) var count = 0

    init(base: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    /// Longest dotted quad, `255.255.255.255`.
    static let maxIPv4 = 15
    /// Longest `inet_ntop` IPv6 text, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` (46 with the NUL).
    static let maxIPv6 = 45

    @inline(__always)
    private func room(_ n: Int) {
        precondition(n <= capacity - count, "ByteCursor: formatted text longer than its bound")
    }

    /// Two ASCII digits for each number 0…99.
    private static let digitPairs: StaticString =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// `0`…`9`, `a`…`f` for a nibble.
    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    @inline(__always)
    mutating func byte(_ b: UInt8) {
        room(1)
        base[count] = b
        count += 1
    }

    @inline(__always)
    mutating func text(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        room(n)
        (base + count).update(from: s.utf8Start, count: n)
        count += n
    }

    mutating func text(string s: String) {
        let n = s.utf8.count
        room(n)
        let copied: Void? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            if let from = utf8.baseAddress { (base + count).update(from: from, count: utf8.count) }
        }
        if copied == nil {
            var at = count
            for b in s.utf8 {
                base[at] = b
                at += 1
            }
        }
        count += n
    }

    /// `n` copies of `byte` (column padding); nothing for `n <= 0`.
    mutating func pad(_ n: Int, _ byte: UInt8 = UInt8(ascii: " ")) {
        guard n > 0 else { return }
        room(n)
        (base + count).update(repeating: byte, count: n)
        count += n
    }

    /// Decimal digits of `v` (1…20).
    @inline(__always)
    static func digitCount(_ v: UInt64) -> Int {
        var n = 1
        var t = v
        while t >= 10_000 {
            t /= 10_000
            n += 4
        }
        if t >= 100 { return n + (t >= 1000 ? 3 : 2) }
        return n + (t >= 10 ? 1 : 0)
    }

    /// An unsigned number in decimal, two digits at a time from the right.
    mutating func decimal(_ value: UInt64) {
        if value < 10 {  // the common 0 of queues, uid, interface and timers
            byte(UInt8(ascii: "0") + UInt8(value))
            return
        }
        let n = Self.digitCount(value)
        room(n)
        let pairs = Self.digitPairs.utf8Start
        var v = value
        var end = count + n
        while v >= 100 {
            let r = Int(v % 100)
            v /= 100
            end -= 2
            base[end] = pairs[2 * r]
            base[end + 1] = pairs[2 * r + 1]
        }
        if v >= 10 {
            base[end - 2] = pairs[2 * Int(v)]
            base[end - 1] = pairs[2 * Int(v) + 1]
        } else {
            base[end - 1] = UInt8(ascii: "0") + UInt8(v)
        }
        count += n
    }

    mutating func decimal(signed value: Int64) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        decimal(value.magnitude)
    }

    /// `I.FFF`, trailing zeros kept.
    mutating func thousandths(_ value: UInt64) {
        decimal(value / 1000)
        byte(UInt8(ascii: "."))
        let frac = value % 1000
        if frac < 100 { byte(UInt8(ascii: "0")) }
        if frac < 10 { byte(UInt8(ascii: "0")) }
        decimal(frac)
    }

    /// `value` with `decimals` decimals, rounded half away from zero (``TextWriter/write(_:decimals:)``).
    mutating func fixed(_ value: Double, decimals: Int) {
        guard value.isFinite else { return byte(UInt8(ascii: "-")) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled) - whole * Int64(scale)
        if value < 0 && scaled > 0 { byte(UInt8(ascii: "-")) }
        decimal(signed: whole)
        guard decimals > 0 else { return }
        byte(UInt8(ascii: "."))
        pad(decimals - Self.digitCount(fraction.magnitude) - (fraction < 0 ? 1 : 0), UInt8(ascii: "0"))
        decimal(signed: fraction)
    }

    /// Lower-case hexadecimal without leading zeros.
    mutating func hex(_ value: UInt16) {
        room(4)
        var started = false
        for shift in stride(from: 12, through: 0, by: -4) {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt16(shift)) & 0xF
            if nibble != 0 || started || shift == 0 {
                started = true
                base[count] = Self.hexDigit(nibble)
                count += 1
            }
        }
    }

    mutating func address(_ a: IPv4Address) {
        room(Self.maxIPv4)
        decimal(UInt64(a.value >> 24))
        byte(UInt8(ascii: "."))
        decimal(UInt64(a.value >> 16 & 0xFF))
        byte(UInt8(ascii: "."))
        decimal(UInt64(a.value >> 8 & 0xFF))
        byte(UInt8(ascii: "."))
        decimal(UInt64(a.value & 0xFF))
    }

    /// RFC 5952 form, exactly as glibc's `inet_ntop` prints it.
    mutating func address(_ address: IPv6Address) {
        room(Self.maxIPv6)
        if let v4 = address.mappedIPv4 {
            text("::ffff:")
            self.address(v4)
            return
        }
        // inet_ntop, and so ss, prints the IPv4-compatible form (RFC 4291 2.5.5.1) as ::a.b.c.d too: six
        // zero groups, then a non-zero seventh (::1:2 prints as ::0.1.0.2, ::1 stays ::1).
        if address.high == 0, address.low >> 32 == 0, address.low >> 16 != 0 {
            text("::")
            self.address(IPv4Address(UInt32(truncatingIfNeeded: address.low)))
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
                text("::")
                i += bestLength
                continue
            }
            if i > 0 && i != bestStart + bestLength {  // not right after "::"
                byte(UInt8(ascii: ":"))
            }
            hex(group(i))
            i += 1
        }
    }

    mutating func address(_ address: IPAddress) {
        switch address {
        case .v4(let a): self.address(a)
        case .v6(let a): self.address(a)
        }
    }
}
