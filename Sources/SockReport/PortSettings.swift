import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// The ports of `net.ipv4.ip_local_reserved_ports`: never picked by `connect()` or `bind(0)`.
///
/// The kernel prints the list as comma-separated ports and inclusive ranges, ascending and merged
/// (`8080,9000-9010`), and an empty line for none.
public struct ReservedPorts: Hashable, Sendable, CustomStringConvertible {
    /// The ranges in the order given.
    public var ranges: [ClosedRange<UInt16>]

    public init(_ ranges: [ClosedRange<UInt16>] = []) { self.ranges = ranges }

    /// Parses the sysctl's text: `""`, `"8080"`, `"8080,9000-9010"` (whitespace around items and a
    /// trailing newline are ignored).
    ///
    /// - Throws: ``PortSettingsError/malformed(file:text:reason:)`` for anything else: a port over 65535,
    ///   a range whose end is below its start, an empty item.
    public init(parsing text: some StringProtocol, file: String = "ip_local_reserved_ports") throws(PortSettingsError) {
        func fail(_ reason: String) -> PortSettingsError { .malformed(file: file, text: String(text), reason: reason) }
        func port(_ word: Substring) throws(PortSettingsError) -> UInt16 {
            guard !word.isEmpty, word.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = UInt16(word) else {
                throw fail("'\(word)' is not a port number (0-65535)")
            }
            return value
        }
        var ranges: [ClosedRange<UInt16>] = []
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).joined()
        if !trimmed.isEmpty {
            for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "-", omittingEmptySubsequences: false)
                switch parts.count {
                case 1:
                    let p = try port(parts[0])
                    ranges.append(p...p)
                case 2:
                    let a = try port(parts[0])
                    let b = try port(parts[1])
                    guard a <= b else { throw fail("range \(item) ends below its start") }
                    ranges.append(a...b)
                default:
                    throw fail("'\(item)' is neither a port nor a range")
                }
            }
        }
        self.ranges = ranges
    }

    /// Whether `port` is reserved.
    public func contains(_ port: UInt16) -> Bool { ranges.contains { $0.contains(port) } }

    /// The distinct reserved ports inside `range` (overlapping items counted once).
    public func count(in range: PortRange) -> Int { bitmap(in: range).count }

    /// The reserved ports inside `range`, as a bitmap for O(1) lookups in a scan.
    public func bitmap(in range: PortRange) -> PortBitmap {
        var bitmap = PortBitmap()
        for r in ranges where r.upperBound >= range.low && r.lowerBound <= range.high {
            for p in max(r.lowerBound, range.low)...min(r.upperBound, range.high) { bitmap.insert(p) }
        }
        return bitmap
    }

    /// The kernel's form: `8080,9000-9010`.
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}

/// Why the port sysctls could not be read.
public enum PortSettingsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(file: String, errno: Int32)
    /// The text did not have the shape the kernel writes.
    case malformed(file: String, text: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let errno): "cannot read \(file): \(String(cString: strerror(errno)))"
        case .malformed(let file, let text, let reason): "\(file): unexpected '\(text)': \(reason)"
        }
    }
}

/// The sysctls that decide how many local ports `connect()` can pick from, read from one network namespace.
///
/// `/proc/sys/net` shows the namespace of the thread that opens the file, so a namespace's values are read
/// on a thread inside it (``read(namespace:)``).
public struct PortSettings: Hashable, Sendable {
    /// `net.ipv4.ip_local_port_range` (IPv6 uses it too).
    public var range: PortRange
    /// `net.ipv4.ip_local_reserved_ports`.
    public var reserved: ReservedPorts
    /// `net.ipv4.tcp_tw_reuse`: 0 off, 1 on, 2 loopback only (the default since Linux 4.20); `nil` if unreadable.
    public var tcpTWReuse: Int?
    /// `net.ipv4.tcp_max_tw_buckets`: TIME_WAIT sockets beyond it are destroyed at once.
    public var tcpMaxTWBuckets: Int?
    /// `net.ipv4.tcp_fin_timeout`, seconds in FIN_WAIT_2 for an orphaned socket (not the TIME_WAIT length).
    public var tcpFinTimeout: Int?
    /// `net.ipv4.tcp_timestamps`: TIME_WAIT reuse needs them (0 disables it whatever `tcp_tw_reuse` says).
    public var tcpTimestamps: Int?
    /// `net.ipv4.tcp_tw_reuse_delay` (Linux 6.13+), milliseconds a TIME_WAIT socket must age before
    /// `tcp_tw_reuse` lets `connect()` take it over; `nil` before 6.13, where it is one second.
    public var tcpTWReuseDelay: Int?

    public init(
        range: PortRange, reserved: ReservedPorts = ReservedPorts(), tcpTWReuse: Int? = nil,
        tcpMaxTWBuckets: Int? = nil, tcpFinTimeout: Int? = nil, tcpTimestamps: Int? = nil,
        tcpTWReuseDelay: Int? = nil
    ) {
        self.range = range
        self.reserved = reserved
        self.tcpTWReuse = tcpTWReuse
        self.tcpMaxTWBuckets = tcpMaxTWBuckets
        self.tcpFinTimeout = tcpFinTimeout
        self.tcpTimestamps = tcpTimestamps
        self.tcpTWReuseDelay = tcpTWReuseDelay
    }

    /// Whether `connect()` may take over an aged TIME_WAIT socket of `destination` (`tcp_twsk_unique`):
    /// `tcp_tw_reuse` 1, or 2 with a loopback address at either end, and timestamps not off.
    public func timeWaitReuseApplies(to destination: Destination) -> Bool {
        guard tcpTimestamps != 0 else { return false }
        switch tcpTWReuse {
        case 1: return true
        case 2: return destination.localAddress.isLoopback || destination.remoteAddress.isLoopback
        default: return false
        }
    }

    /// Milliseconds a TIME_WAIT socket must age before it can be reused.
    public var timeWaitReuseDelayMilliseconds: Int { tcpTWReuseDelay ?? 1000 }

    /// Reads the settings of `namespace` (on a thread inside it), or of the caller's namespace.
    ///
    /// - Throws: ``PortSettingsError`` when the range cannot be read, ``NamespaceError`` when the namespace
    ///   cannot be entered.
    public static func read(namespace: NetworkNamespace?) throws -> PortSettings {
        guard let namespace else { return try read() }
        return try namespace.run { try read() }
    }

    /// Reads the files under `directory`, in the namespace of the calling thread.
    ///
    /// `ip_local_port_range` is required; `ip_local_reserved_ports` counts as empty when missing; the
    /// TCP values are `nil` when missing.
    /// - Throws: ``PortSettingsError``.
    public static func read(directory: String = "/proc/sys/net/ipv4") throws(PortSettingsError) -> PortSettings {
        let rangeFile = "\(directory)/ip_local_port_range"
        let rangeText = try SysctlFile.read(rangeFile)
        let range = try parseRange(rangeText, file: rangeFile)
        var reserved = ReservedPorts()
        let reservedFile = "\(directory)/ip_local_reserved_ports"
        if let text = try? SysctlFile.read(reservedFile) {
            reserved = try ReservedPorts(parsing: text, file: reservedFile)
        }
        func integer(_ name: String) -> Int? {
            guard let text = try? SysctlFile.read("\(directory)/\(name)") else { return nil }
            return Int(text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).first ?? "")
        }
        return PortSettings(
            range: range, reserved: reserved, tcpTWReuse: integer("tcp_tw_reuse"),
            tcpMaxTWBuckets: integer("tcp_max_tw_buckets"), tcpFinTimeout: integer("tcp_fin_timeout"),
            tcpTimestamps: integer("tcp_timestamps"), tcpTWReuseDelay: integer("tcp_tw_reuse_delay"))
    }

    /// Parses `ip_local_port_range`'s text: two numbers separated by blanks (`"32768\t60999\n"`).
    ///
    /// - Throws: ``PortSettingsError/malformed(file:text:reason:)``.
    public static func parseRange(_ text: String, file: String = "ip_local_port_range") throws(PortSettingsError)
        -> PortRange
    {
        do {
            return try PortRange(parsing: text, file: file)
        } catch {
            throw .malformed(file: file, text: text, reason: "expected two ports, low then high")
        }
    }

    /// Ports in the range that are also reserved.
    public var reservedInRange: Int { reserved.count(in: range) }
}

extension IPAddress {
    /// `127.0.0.0/8`, `::1`, or `::ffff:127.x.y.z` (what the kernel's TIME_WAIT reuse calls loopback).
    var isLoopback: Bool {
        switch self {
        case .v4(let a): a.value >> 24 == 127
        case .v6(let a): a == .loopback || (a.mappedIPv4.map { $0.value >> 24 == 127 } ?? false)
        }
    }
}

/// Whole-file reads of small sysctl files, with the settings' error.
enum SysctlFile {
    static func read(_ path: String) throws(PortSettingsError) -> String {
        do {
            return try ProcFile.read(path)
        } catch {
            if case .unreadable(let file, let errno) = error { throw .unreadable(file: file, errno: errno.rawValue) }
            throw .unreadable(file: path, errno: EIO)
        }
    }
}
