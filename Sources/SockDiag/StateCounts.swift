/// Socket counts per TCP state.
public struct StateCounts: Hashable, Sendable {
    /// Counts indexed by state number (0…15).
    public private(set) var byState: [UInt64] = Array(repeating: 0, count: 16)

    /// Zero sockets in every state.
    public init() {}

    /// All sockets counted.
    public var total: UInt64 { byState.reduce(0, +) }

    /// The count of one state.
    public subscript(state: TCPState) -> UInt64 {
        get { byState[Int(state.rawValue & 0xF)] }
        set { byState[Int(state.rawValue & 0xF)] = newValue }
    }

    /// Adds one socket in `state`.
    @inlinable public mutating func add(_ state: TCPState) { self[state] += 1 }

    /// The states with a non-zero count, in kernel order.
    public var nonZero: [(state: TCPState, count: UInt64)] {
        (0..<16).compactMap { i in byState[i] > 0 ? (TCPState(rawValue: UInt8(i)), byState[i]) : nil }
    }
}
