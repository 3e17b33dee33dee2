#if canImport(Glibc)
    import Glibc
#endif

/// An inclusive range of ports, such as the ephemeral range `net.ipv4.ip_local_port_range` from which
/// `connect()` picks a local port.
public struct PortRange: Hashable, Sendable, CustomStringConvertible {
    /// The first port of the range.
    public var low: UInt16
    /// The last port of the range.
    public var high: UInt16

    /// The ports `low` through `high`.
    public init(low: UInt16, high: UInt16) {
        self.low = low
        self.high = high
    }

    /// The kernel's default `ip_local_port_range`: 32768–60999 (28,232 ports).
    public static let kernelDefault = PortRange(low: 32768, high: 60999)

    /// How many ports the range holds (0 when `high` is below `low`).
    public var count: Int { low <= high ? Int(high) - Int(low) + 1 : 0 }

    /// Whether `port` is inside the range.
    @inlinable public func contains(_ port: UInt16) -> Bool { port >= low && port <= high }

    /// The kernel's form: `32768-60999`.
    public var description: String { "\(low)-\(high)" }

    /// Parses `ip_local_port_range`'s text: two numbers separated by blanks (`"32768\t60999\n"`), the
    /// first not above the second.
    ///
    /// - Throws: ``ProcNetError/malformed(file:line:reason:)`` naming `file`.
    public init(parsing text: some StringProtocol, file: String = "ip_local_port_range") throws(ProcNetError) {
        let words = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" })
        guard words.count == 2, let low = UInt16(words[0]), let high = UInt16(words[1]), low <= high else {
            throw .malformed(file: file, line: 1, reason: "expected two ports, low then high, not '\(text)'")
        }
        self.init(low: low, high: high)
    }

    /// Reads `net.ipv4.ip_local_port_range` of `namespace` (on a thread inside it), or of the caller's
    /// namespace.
    ///
    /// - Throws: ``ProcNetError`` when the file cannot be read or parsed, ``NamespaceError`` when the
    ///   namespace cannot be entered.
    public static func ephemeral(in namespace: NetworkNamespace?) throws -> PortRange {
        let read: @Sendable () throws -> PortRange = {
            let path = "/proc/sys/net/ipv4/ip_local_port_range"
            return try PortRange(parsing: try ProcFile.read(path), file: path)
        }
        guard let namespace else { return try read() }
        return try namespace.run(read)
    }
}
