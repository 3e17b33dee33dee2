/// Socket counts per TCP state: the one state-count type of every target (scans, port analysis, history,
/// metrics).
///
/// The counts live inline (128 bytes, no heap storage): a grouping dictionary holding one per key allocates
/// nothing per count, and adding one socket is one vector-lane increment.
public struct StateCounts: Hashable, Sendable {
    /// Counts indexed by state number (0…15).
    @usableFromInline var lanes = SIMD16<UInt64>(repeating: 0)

    /// Zero sockets in every state.
    public init() {}

    /// Counts indexed by state number (0…15).
    public var byState: [UInt64] { (0..<16).map { lanes[$0] } }

    /// All sockets counted.
    public var total: UInt64 { lanes.wrappedSum() }

    /// The count of one state.
    public subscript(state: TCPState) -> UInt64 {
        get { lanes[Int(state.rawValue & 0xF)] }
        set { lanes[Int(state.rawValue & 0xF)] = newValue }
    }

    /// Adds one socket in `state`.
    @inlinable public mutating func add(_ state: TCPState) { lanes[Int(state.rawValue & 0xF)] &+= 1 }

    /// Adds another count, state by state.
    public mutating func add(_ other: StateCounts) { lanes &+= other.lanes }

    /// The counts of both, state by state.
    public static func + (a: StateCounts, b: StateCounts) -> StateCounts {
        var sum = a
        sum.add(b)
        return sum
    }

    /// The states with a non-zero count, in kernel order.
    public var nonZero: [(state: TCPState, count: UInt64)] {
        (0..<16).compactMap { i in lanes[i] > 0 ? (TCPState(rawValue: UInt8(i)), lanes[i]) : nil }
    }
}
