/// A set of ports as a fixed 8 KiB bitmap: one allocation, O(1) insert and lookup, no growth during a scan.
public struct PortBitmap: Hashable, Sendable {
    private var words: [UInt64]
    /// The number of ports in the set.
    public private(set) var count: Int

    /// An empty set.
    public init() {
        words = Array(repeating: 0, count: 1024)
        count = 0
    }

    /// Whether `port` is in the set.
    @inlinable public func contains(_ port: UInt16) -> Bool {
        word(Int(port) >> 6) & (1 << UInt64(port & 63)) != 0
    }

    @usableFromInline func word(_ index: Int) -> UInt64 { words[index] }

    /// Adds `port`; returns whether it was new.
    @discardableResult
    public mutating func insert(_ port: UInt16) -> Bool {
        let bit: UInt64 = 1 << UInt64(port & 63)
        let i = Int(port) >> 6
        if words[i] & bit != 0 { return false }
        words[i] |= bit
        count += 1
        return true
    }

    /// The ports in the set, ascending.
    public var ports: [UInt16] {
        var result: [UInt16] = []
        result.reserveCapacity(count)
        for (i, word) in words.enumerated() where word != 0 {
            for bit in 0..<64 where word & (1 << UInt64(bit)) != 0 { result.append(UInt16(i * 64 + bit)) }
        }
        return result
    }
}
