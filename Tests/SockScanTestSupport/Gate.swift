import Foundation

/// A gate the collecting thread waits at, so a test can pile requests onto one running collection.
public final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var open = false
    /// How many threads have come to the gate.
    public private(set) var arrivals = 0

    public init() {}

    /// Waits at the gate until it is released.
    public func pass() {
        condition.lock()
        arrivals += 1
        condition.broadcast()
        while !open { condition.wait() }
        condition.unlock()
    }

    /// Waits (at most `timeout` seconds) until `count` threads have come: false when they did not.
    public func waitForArrivals(_ count: Int, timeout: Double = 5) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while arrivals < count { if !condition.wait(until: deadline) { return false } }
        return true
    }

    /// Opens the gate for every waiting and later thread.
    public func release() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }
}
