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

    public init() {}

    /// Reads the files under `directory` (`/proc/net`, or `/proc/thread-self/net` inside a namespace thread).
    ///
    /// `sockstat6` is optional (a kernel without IPv6 has none).
    /// - Throws: ``ProcNetError`` when `sockstat` cannot be read or parsed.
    public static func read(directory: String = "/proc/net") throws(ProcNetError) -> Sockstat {
        var stat = Sockstat()
        let v4 = try ProcFile.read("\(directory)/sockstat")
        try stat.parse(v4, file: "\(directory)/sockstat")
        if let v6 = try? ProcFile.read("\(directory)/sockstat6") {
            try stat.parse(v6, file: "\(directory)/sockstat6")
        }
        return stat
    }

    /// Reads the totals of a namespace (on a thread inside it).
    public static func read(namespace: NetworkNamespace?) throws -> Sockstat {
        guard let namespace else { return try read() }
        return try namespace.run { try read(directory: "/proc/thread-self/net") }
    }

    /// Parses the text of `sockstat` or `sockstat6` into this value, keeping fields the text lacks.
    ///
    /// Each line is `PROTO: key value key value …`; unknown protocols and keys are ignored.
    /// - Throws: ``ProcNetError/malformed(file:line:reason:)`` for a value that is not a number.
    public mutating func parse(_ text: String, file: String = "sockstat") throws(ProcNetError) {
        var lineNumber = 0
        for line in text.split(separator: "\n") {
            lineNumber += 1
            guard let colon = line.firstIndex(of: ":") else { continue }
            let proto = line[..<colon]
            let words = line[line.index(after: colon)...].split(separator: " ")
            guard words.count % 2 == 0 else {
                throw .malformed(file: file, line: lineNumber, reason: "expected key value pairs")
            }
            var i = 0
            while i < words.count {
                guard let value = UInt64(words[i + 1]) else {
                    throw .malformed(file: file, line: lineNumber, reason: "'\(words[i + 1])' is not a number")
                }
                set(proto: proto, key: words[i], value: value)
                i += 2
            }
        }
    }

    private mutating func set(proto: Substring, key: Substring, value: UInt64) {
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
        default: break
        }
    }
}
