import SystemPackage
#if canImport(Glibc)
    import Glibc
#endif

/// The namespace's socket totals from `/proc/net/sockstat` and `/proc/net/sockstat6`: O(1) to read, the
/// source of `sar -n SOCK` and `ss -s`.
public struct Sockstat: Hashable, Sendable {
    /// `sockets: used` — all sockets of the namespace, of every family (netlink and unix too), what sar
    /// calls `totsck`. Per namespace since Linux 4.16; host-wide before.
    public var socketsUsed: UInt64 = 0
    /// `TCP: inuse` — IPv4 TCP sockets in use (sar `tcpsck`).
    public var tcpInUse: UInt64 = 0
    /// `TCP: orphan`.
    public var tcpOrphan: UInt64 = 0
    /// `TCP: tw` — TIME_WAIT sockets of both families (sar `tcp-tw`).
    public var tcpTimeWait: UInt64 = 0
    /// `TCP: alloc`.
    public var tcpAllocated: UInt64 = 0
    /// `TCP: mem`, pages.
    public var tcpMemoryPages: UInt64 = 0
    /// `UDP: inuse` (sar `udpsck`).
    public var udpInUse: UInt64 = 0
    /// `UDP: mem`, pages.
    public var udpMemoryPages: UInt64 = 0
    /// `UDPLITE: inuse`.
    public var udpLiteInUse: UInt64 = 0
    /// `RAW: inuse` (sar `rawsck`).
    public var rawInUse: UInt64 = 0
    /// `FRAG: inuse` (sar `ip-frag`).
    public var fragInUse: UInt64 = 0
    /// `FRAG: memory`, bytes.
    public var fragMemory: UInt64 = 0
    /// `TCP6: inuse` (sar `tcp6sck`).
    public var tcp6InUse: UInt64 = 0
    /// `UDP6: inuse` (sar `udp6sck`).
    public var udp6InUse: UInt64 = 0
    /// `UDPLITE6: inuse`.
    public var udpLite6InUse: UInt64 = 0
    /// `RAW6: inuse` (sar `raw6sck`).
    public var raw6InUse: UInt64 = 0
    /// `FRAG6: inuse` (sar `ip6-frag`).
    public var frag6InUse: UInt64 = 0
    /// `FRAG6: memory`, bytes.
    public var frag6Memory: UInt64 = 0

    /// All counts zero.
    public init() {}

    /// Reads the files under `directory` (`/proc/net`, or `/proc/thread-self/net` inside a namespace thread).
    ///
    /// `sockstat6` is optional (a kernel without IPv6 has none). Each file must hold the lines every kernel
    /// writes (`sockets: used`, `TCP: inuse … tw`, `UDP: inuse`, `RAW: inuse`, `FRAG: inuse`; `TCP6`, `UDP6`,
    /// `RAW6`, `FRAG6: inuse`): an empty, cut or garbled file is an error, never a row of zeros.
    /// - Throws: ``ProcNetError`` when `sockstat` (or an existing `sockstat6`) cannot be read or parsed.
    public static func read(directory: String = "/proc/net") throws(ProcNetError) -> Sockstat {
        var stat = Sockstat()
        let v4 = "\(directory)/sockstat"
        try stat.parse(ProcFile.read(v4), file: v4, requiring: required)
        let v6 = "\(directory)/sockstat6"
        let text: String
        do {
            text = try ProcFile.read(v6)
        } catch {
            if case .unreadable(_, .noSuchFileOrDirectory) = error { return stat }
            throw error
        }
        try stat.parse(text, file: v6, requiring: required6)
        return stat
    }

    /// The `PROTO key` pairs every kernel writes into `sockstat` (sar's columns).
    static let required = ["sockets used", "TCP inuse", "TCP tw", "UDP inuse", "RAW inuse", "FRAG inuse"]
    /// The same for `sockstat6`.
    static let required6 = ["TCP6 inuse", "UDP6 inuse", "RAW6 inuse", "FRAG6 inuse"]

    /// Reads the totals of a namespace (on a thread inside it).
    public static func read(namespace: NetworkNamespace?) throws -> Sockstat {
        guard let namespace else { return try read() }
        return try namespace.run { try read(directory: "/proc/thread-self/net") }
    }

    /// Parses the text of `sockstat` or `sockstat6` into this value, keeping fields the text lacks.
    ///
    /// Each line is `PROTO: key value key value …` (names of letters, digits and `_`, values decimal);
    /// unknown protocols and keys are ignored.
    /// - Throws: ``ProcNetError/malformed(file:line:reason:)`` for an empty text, a blank line, a line of
    ///   another shape or a value that is not a number.
    public mutating func parse(_ text: String, file: String = "sockstat") throws(ProcNetError) {
        try parse(text, file: file, requiring: [])
    }

    /// ``parse(_:file:)``, then: each of `required` (`"PROTO key"`) must have been seen, or the line after
    /// the last is reported as where it was expected.
    mutating func parse(_ text: String, file: String, requiring required: [String]) throws(ProcNetError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }  // the newline ending the last line
        guard !lines.isEmpty else {
            throw .malformed(file: file, line: 1, reason: "empty file: expected lines like 'TCP: inuse N tw N'")
        }
        func isName(_ word: Substring) -> Bool {
            !word.isEmpty && word.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 < 0x80 && isalnum(Int32($0)) != 0) }
        }
        var seen: Set<String> = []
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            guard let colon = line.firstIndex(of: ":"), isName(line[..<colon]) else {
                throw .malformed(file: file, line: lineNumber, reason: "expected 'PROTO: key value …'")
            }
            let proto = line[..<colon]
            let words = line[line.index(after: colon)...].split(separator: " ")
            guard !words.isEmpty, words.count % 2 == 0 else {
                throw .malformed(file: file, line: lineNumber, reason: "expected key value pairs")
            }
            var i = 0
            while i < words.count {
                guard isName(words[i]) else {
                    throw .malformed(file: file, line: lineNumber, reason: "'\(words[i])' is not a key")
                }
                let digits = words[i + 1]
                guard digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                    let value = UInt64(digits)
                else {
                    throw .malformed(file: file, line: lineNumber, reason: "'\(digits)' is not a number")
                }
                if set(proto: proto, key: words[i], value: value) { seen.insert("\(proto) \(words[i])") }
                i += 2
            }
        }
        let missing = required.filter { !seen.contains($0) }
        guard missing.isEmpty else {
            throw .malformed(
                file: file, line: lines.count + 1,
                reason: "ended without \(missing.map { "'\($0)'" }.joined(separator: ", "))")
        }
    }

    /// Stores a known field; returns whether it was one.
    private mutating func set(proto: Substring, key: Substring, value: UInt64) -> Bool {
        switch (proto, key) {
        case ("sockets", "used"): socketsUsed = value
        case ("TCP", "inuse"): tcpInUse = value
        case ("TCP", "orphan"): tcpOrphan = value
        case ("TCP", "tw"): tcpTimeWait = value
        case ("TCP", "alloc"): tcpAllocated = value
        case ("TCP", "mem"): tcpMemoryPages = value
        case ("UDP", "inuse"): udpInUse = value
        case ("UDP", "mem"): udpMemoryPages = value
        case ("UDPLITE", "inuse"): udpLiteInUse = value
        case ("RAW", "inuse"): rawInUse = value
        case ("FRAG", "inuse"): fragInUse = value
        case ("FRAG", "memory"): fragMemory = value
        case ("TCP6", "inuse"): tcp6InUse = value
        case ("UDP6", "inuse"): udp6InUse = value
        case ("UDPLITE6", "inuse"): udpLite6InUse = value
        case ("RAW6", "inuse"): raw6InUse = value
        case ("FRAG6", "inuse"): frag6InUse = value
        case ("FRAG6", "memory"): frag6Memory = value
        default: return false
        }
        return true
    }
}
