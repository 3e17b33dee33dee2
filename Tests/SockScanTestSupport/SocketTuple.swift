import SockDiag
import Testing

/// What identifies a socket when comparing sources: protocol, family, state and both endpoints.
///
/// Queues, uid, inode and cookie are left out: they differ between sources (or move) and are compared
/// separately where they matter.
public struct SocketTuple: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var proto: TransportProtocol
    public var family: AddressFamily
    public var state: TCPState
    public var local: Endpoint
    public var remote: Endpoint

    public init(
        proto: TransportProtocol, family: AddressFamily, state: TCPState, local: Endpoint, remote: Endpoint
    ) {
        self.proto = proto
        self.family = family
        self.state = state
        self.local = local
        self.remote = remote
    }

    /// The tuple of a scanned record.
    public init(_ record: SocketRecord) {
        self.init(
            proto: record.proto, family: record.family, state: record.state, local: record.local,
            remote: record.remote)
    }

    /// `tcp inet6 ESTAB [::1]:7006 -> [::1]:51012`, the form failures print.
    public var description: String {
        "\(proto) \(family) \(state.columnName) \(Self.text(local)) -> \(Self.text(remote))"
    }

    /// `ss -n`'s spelling of an endpoint (without `*` for an unspecified address).
    static func text(_ e: Endpoint) -> String {
        let address: String
        switch e.address {
        case .v4(let a): address = a.description
        case .v6(let a): address = "[\(a)]"
        }
        return "\(address):\(e.port == 0 ? "*" : String(e.port))"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.description < rhs.description }
}

extension Collection where Element == SocketTuple {
    /// How many tuples are in each state.
    public func countsByState() -> [TCPState: Int] {
        var counts: [TCPState: Int] = [:]
        for tuple in self { counts[tuple.state, default: 0] += 1 }
        return counts
    }
}

/// What two tuple sets disagree on, for readable failure messages.
public struct TupleDifference: CustomStringConvertible, Sendable {
    public var missing: [SocketTuple]
    public var unexpected: [SocketTuple]

    /// `expected` less `actual` (missing) and `actual` less `expected` (unexpected).
    public init(expected: Set<SocketTuple>, actual: Set<SocketTuple>) {
        missing = expected.subtracting(actual).sorted()
        unexpected = actual.subtracting(expected).sorted()
    }

    public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty }

    public var description: String {
        if isEmpty { return "no difference" }
        var lines: [String] = []
        lines += missing.prefix(20).map { "missing:    \($0)" }
        if missing.count > 20 { lines.append("… \(missing.count - 20) more missing") }
        lines += unexpected.prefix(20).map { "unexpected: \($0)" }
        if unexpected.count > 20 { lines.append("… \(unexpected.count - 20) more unexpected") }
        return lines.joined(separator: "\n")
    }
}

/// Expects two tuple sets to be equal, printing what differs.
public func expectSame(
    _ actual: Set<SocketTuple>, _ expected: Set<SocketTuple>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let difference = TupleDifference(expected: expected, actual: actual)
    #expect(difference.isEmpty, "\(what):\n\(difference)", sourceLocation: sourceLocation)
}
