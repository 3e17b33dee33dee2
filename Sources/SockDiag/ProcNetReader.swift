import SystemPackage
#if canImport(Glibc)
    import Glibc
#endif

/// Why a `/proc` file could not be read.
public enum ProcNetError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(file: String, errno: Errno)
    /// A line did not have the expected shape.
    case malformed(file: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let errno): "cannot read \(file): \(errno)"
        case .malformed(let file, let line, let reason): "\(file) line \(line): \(reason)"
        }
    }
}

/// Whole-file reads of small `/proc` and `/proc/sys` files (sockstat, sysctls, comm).
public enum ProcFile {
    /// Reads the whole file as text. A file larger than `maxBytes` (4 MiB by default: far above any
    /// sockstat or sysctl the kernel writes) is an error, never cut short.
    ///
    /// - Throws: ``ProcNetError/unreadable(file:errno:)`` when it cannot be opened or read, with `EFBIG`
    ///   when it holds more than `maxBytes`.
    public static func read(_ path: String, maxBytes: Int = 4 << 20) throws(ProcNetError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(file: path, errno: Errno(rawValue: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(file: path, errno: Errno(rawValue: errno))
            }
            if n == 0 { break }
            guard bytes.count + n <= maxBytes else { throw .unreadable(file: path, errno: .fileTooLarge) }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Reads `/proc/net/{tcp,tcp6,udp,udp6}` into the same records the netlink path produces.
///
/// The text path exists for comparison and as the fallback where sock_diag is refused. It cannot give
/// what the text lacks: the socket cookie and the bound interface (0 here), `tcp_info` and memory; and
/// for a listener the kernel prints 0 as the send queue where netlink gives the backlog limit.
/// Lines are parsed from a reused 64 KiB buffer, without allocating per line.
public struct ProcNetReader: Sendable {
    /// The directory holding the files: `/proc/net`, or `/proc/thread-self/net` on a namespace's thread.
    public var directory: String

    /// A reader of the files in `directory`.
    public init(directory: String = "/proc/net") {
        self.directory = directory
    }

    /// The file that lists `proto` sockets of `family`.
    public func path(_ proto: TransportProtocol, _ family: AddressFamily) -> String {
        "\(directory)/\(proto)\(family == .inet6 ? "6" : "")"
    }

    /// Calls `body` with each socket of `proto` and `family` whose state is in `states`.
    ///
    /// The first line must be the kernel's header (`sl local_address …`); every other line a socket. A
    /// missing `tcp6` or `udp6` (a kernel without IPv6, `ipv6.disable=1`) holds no sockets, as a missing
    /// `sockstat6` is read; the IPv4 files always exist.
    /// - Parameters:
    ///   - proto: TCP or UDP.
    ///   - family: IPv4 or IPv6.
    ///   - states: the states kept; the others are skipped.
    ///   - descriptor: the file, opened already (in another namespace); it is read, not closed. `nil` opens
    ///     ``path(_:_:)``.
    ///   - body: called with each socket kept.
    /// - Throws: ``ProcNetError`` when the file cannot be read, or it or a line is malformed (naming the
    ///   file and the line), or what `body` throws.
    /// - Returns: the number of lines parsed.
    @discardableResult
    public func forEach(
        _ proto: TransportProtocol, _ family: AddressFamily, states: StateSet = .all, descriptor: Int32? = nil,
        _ body: (SocketRecord) throws -> Void
    ) throws -> Int {
        let file = path(proto, family)
        let fd = descriptor ?? open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT && family == .inet6 { return 0 }
            throw ProcNetError.unreadable(file: file, errno: Errno(rawValue: errno))
        }
        defer { if descriptor == nil { close(fd) } }
        let capacity = 65536
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        var filled = 0
        var lineNumber = 0
        var parsed = 0
        var eof = false
        while !eof {
            let n = read(fd, buffer.baseAddress! + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw ProcNetError.unreadable(file: file, errno: Errno(rawValue: errno))
            }
            if n == 0 { eof = true }
            filled += n
            var start = 0
            while true {
                var end = start
                while end < filled && buffer[end] != UInt8(ascii: "\n") { end += 1 }
                if end == filled && !eof { break }  // partial line: keep for the next read
                if end == filled && start == filled { break }  // the end, after a newline
                lineNumber += 1
                let line = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
                if lineNumber == 1 {
                    guard Self.isHeader(line) else {
                        throw ProcNetError.malformed(
                            file: file, line: 1, reason: "expected the header line (sl local_address …)")
                    }
                } else {
                    let record = try Self.parseLine(
                        line, proto: proto, family: family, file: file, lineNumber: lineNumber)
                    parsed += 1
                    if states.contains(record.state) { try body(record) }
                }
                start = end + 1
                if start >= filled { break }
            }
            if start < filled {
                if start == 0 && filled == capacity {
                    throw ProcNetError.malformed(
                        file: file, line: lineNumber + 1, reason: "line longer than \(capacity) bytes")
                }
                memmove(buffer.baseAddress!, buffer.baseAddress! + start, filled - start)
                filled -= start
            } else {
                filled = 0
            }
        }
        if lineNumber == 0 {
            throw ProcNetError.malformed(
                file: file, line: 1, reason: "empty file: expected the header line (sl local_address …)")
        }
        return parsed
    }

    /// Whether `line` is the header the kernel prints first: its first field is `sl`.
    static func isHeader(_ line: UnsafeRawBufferPointer) -> Bool {
        var cursor = LineCursor(bytes: line)
        cursor.skipSpaces()
        let start = cursor.at
        guard cursor.skipField() else { return false }
        return cursor.at - start == 2 && line[start] == UInt8(ascii: "s") && line[start + 1] == UInt8(ascii: "l")
    }

    /// Parses one data line of `/proc/net/tcp` (or tcp6, udp, udp6).
    ///
    /// The shape, from `tcp4_seq_show`:
    /// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …`,
    /// addresses as the hex of the in-memory 32-bit words (so IPv4 `127.0.0.1` is `0100007F` on little
    /// endian machines) and ports in hex.
    /// - Throws: ``ProcNetError/malformed(file:line:reason:)``.
    public static func parseLine(
        _ line: UnsafeRawBufferPointer, proto: TransportProtocol, family: AddressFamily, file: String = "/proc/net",
        lineNumber: Int = 0
    ) throws(ProcNetError) -> SocketRecord {
        var cursor = LineCursor(bytes: line)
        func fail(_ reason: String) -> ProcNetError { .malformed(file: file, line: lineNumber, reason: reason) }
        guard cursor.skipField() else { throw fail("missing slot number") }  // "sl:"
        guard let local = cursor.endpoint(family: family) else { throw fail("bad local address") }
        guard let remote = cursor.endpoint(family: family) else { throw fail("bad remote address") }
        // Every value must fit the field the kernel printed it from: a larger one is refused, never truncated.
        func fitting<T: FixedWidthInteger & UnsignedInteger>(_ value: UInt64?, _ name: String, as: T.Type)
            throws(ProcNetError) -> T
        {
            guard let value else { throw fail("bad \(name)") }
            guard let fitted = T(exactly: value) else {
                throw fail("\(name) \(value) is more than \(T.bitWidth) bits hold")
            }
            return fitted
        }
        let state = try fitting(cursor.hex(until: UInt8(ascii: " ")), "state", as: UInt8.self)
        let tx = try fitting(cursor.hex(until: UInt8(ascii: ":")), "tx_queue", as: UInt32.self)
        let rx = try fitting(cursor.hex(until: UInt8(ascii: " "), afterColon: true), "rx_queue", as: UInt32.self)
        let timer = try fitting(cursor.hex(until: UInt8(ascii: ":")), "timer", as: UInt8.self)
        guard let when = cursor.hex(until: UInt8(ascii: " "), afterColon: true) else { throw fail("bad tm->when") }
        let retransmits = try fitting(cursor.hex(until: UInt8(ascii: " ")), "retransmits", as: UInt8.self)
        let uid = try fitting(cursor.decimal(), "uid", as: UInt32.self)
        guard cursor.skipField() else { throw fail("missing timeout") }
        let inode = try fitting(cursor.decimal(), "inode", as: UInt32.self)
        // tm->when is in clock ticks (USER_HZ, 100 per second on Linux); up to 64 bits, so clamp.
        let (milliseconds, overflow) = when.multipliedReportingOverflow(by: 10)
        return SocketRecord(
            proto: proto, family: family, state: TCPState(rawValue: state), local: local, remote: remote,
            receiveQueue: rx, sendQueue: tx, uid: uid, inode: inode, cookie: 0, interfaceIndex: 0,
            timer: SocketTimer(
                kind: SocketTimerKind(rawValue: timer) ?? .unknown,
                expiresMilliseconds: overflow ? .max : UInt32(clamping: milliseconds),
                retransmits: retransmits)
        )
    }
}

/// A cursor over one line of `/proc/net/*`: fields separated by runs of spaces.
struct LineCursor {
    let bytes: UnsafeRawBufferPointer
    var at = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func skipSpaces() {
        while at < bytes.count && bytes[at] == UInt8(ascii: " ") { at += 1 }
    }

    mutating func skipField() -> Bool {
        skipSpaces()
        let start = at
        while at < bytes.count && bytes[at] != UInt8(ascii: " ") { at += 1 }
        return at > start
    }

    /// Hex digits (any number of leading zeros, a value of at most 64 bits) up to `terminator`, which is
    /// consumed. A space terminator may also be the end of the line; a `:` must be there. The second value
    /// of a `A:B` field starts right after the colon (`afterColon`): no spaces are skipped there.
    mutating func hex(until terminator: UInt8, afterColon: Bool = false) -> UInt64? {
        if !afterColon { skipSpaces() }
        var value: UInt64 = 0
        var digits = 0
        while at < bytes.count && bytes[at] != terminator && bytes[at] != UInt8(ascii: " ") {
            let c = bytes[at]
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            guard value >> 60 == 0 else { return nil }
            value = value << 4 | UInt64(nibble)
            digits += 1
            at += 1
        }
        guard digits > 0 else { return nil }
        if at < bytes.count && bytes[at] == terminator {
            at += 1
        } else if terminator != UInt8(ascii: " ") {
            return nil
        }
        return value
    }

    mutating func decimal() -> UInt64? {
        skipSpaces()
        var value: UInt64 = 0
        var digits = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(bytes[at] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = s
            digits += 1
            at += 1
        }
        // The field ends here: "123abc" is no number (and would shift every later field).
        guard digits > 0, at == bytes.count || bytes[at] == UInt8(ascii: " ") else { return nil }
        return value
    }

    /// `ADDR:PORT` with the address as 8 (IPv4) or 32 (IPv6) hex digits of in-memory 32-bit words.
    mutating func endpoint(family: AddressFamily) -> Endpoint? {
        skipSpaces()
        let words = family == .inet ? 1 : 4
        var raw: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        for i in 0..<words {
            var word: UInt32 = 0
            for _ in 0..<8 {
                guard at < bytes.count else { return nil }
                let c = bytes[at]
                let nibble: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt32(c - UInt8(ascii: "A") + 10)
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt32(c - UInt8(ascii: "a") + 10)
                default: return nil
                }
                word = word << 4 | nibble
                at += 1
            }
            // The kernel printed the word as the CPU holds it: this is the in-memory value, and its
            // bytes in memory are the address bytes in network order.
            withUnsafeMutableBytes(of: &raw) { $0.storeBytes(of: word, toByteOffset: i * 4, as: UInt32.self) }
        }
        guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { return nil }
        at += 1
        guard let port = hex(until: UInt8(ascii: " "), afterColon: true), port <= 0xFFFF else { return nil }
        let address: IPAddress = withUnsafeBytes(of: &raw) { b in
            if family == .inet {
                return .v4(IPv4Address(UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))))
            }
            return .v6(IPv6Address(networkBytes: b))
        }
        return Endpoint(address: address, port: UInt16(port))
    }
}
