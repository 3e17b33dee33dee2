import SockDiag

/// What one destination holds of its ephemeral ports now, as far as when it runs out is concerned: the
/// connections that stay, the TIME_WAIT sockets that leave as their timers run out, and how long each close
/// made here holds a port. With a close rate, ``secondsToExhaustion(closesPerSecond:closedHereShare:)`` says
/// when `connect()` to it starts failing (``ChurnReport/secondsToExhaustion(notTimeWait:timeWaitExpiries:rate:holdSeconds:capacity:)``).
public struct PortHold: Hashable, Sendable {
    /// Sockets to the destination on an ephemeral port that are not in TIME_WAIT.
    public var notTimeWait: Int
    /// Milliseconds left on each of its TIME_WAIT sockets' timers (`idiag_expires`).
    public var timeWaitExpiries: [UInt32]
    /// Seconds a port stays held after this side closes first (``PortSettings/holdSeconds(to:)``).
    public var holdSeconds: Double
    /// Ports the destination can use.
    public var capacity: Int

    /// The hold of a destination as given.
    public init(notTimeWait: Int, timeWaitExpiries: [UInt32], holdSeconds: Double, capacity: Int) {
        self.notTimeWait = notTimeWait
        self.timeWaitExpiries = timeWaitExpiries
        self.holdSeconds = holdSeconds
        self.capacity = capacity
    }

    /// TIME_WAIT sockets that began in the last `seconds`: their timer, started at 60 s, has more than
    /// `60 - seconds` left.
    public func timeWaitBegun(inLast seconds: Double) -> Int {
        let floor = Double(PortReport.timeWaitSeconds * 1000) - seconds * 1000
        return timeWaitExpiries.reduce(0) { $0 + (Double($1) > floor ? 1 : 0) }
    }

    /// The share of `closes` over the last `seconds` that this side made first, each leaving a TIME_WAIT
    /// socket: the TIME_WAIT sockets begun in that time over `closes`, at most 1; 1 (the worst case) when
    /// there was no close to compare with.
    public func closedHereShare(closes: Int, inLast seconds: Double) -> Double {
        closes > 0 ? min(1, Double(timeWaitBegun(inLast: seconds)) / Double(closes)) : 1
    }

    /// Seconds from now until the destination's ports run out at `closesPerSecond`, of which
    /// `closedHereShare` hold a port for ``holdSeconds`` (0: already); `nil` when they never do.
    public func secondsToExhaustion(closesPerSecond: Double, closedHereShare: Double = 1) -> Double? {
        ChurnReport.secondsToExhaustion(
            notTimeWait: notTimeWait, timeWaitExpiries: timeWaitExpiries, rate: closesPerSecond * closedHereShare,
            holdSeconds: holdSeconds, capacity: capacity)
    }
}

extension PortSettings {
    /// Seconds a port of `destination` stays held after this side closes first: TIME_WAIT's 60 s, or the
    /// reuse delay where `tcp_tw_reuse` lets `connect()` take an aged TIME_WAIT socket over.
    public func holdSeconds(to destination: Destination) -> Double {
        timeWaitReuseApplies(to: destination)
            ? Double(timeWaitReuseDelayMilliseconds) / 1000 : Double(PortReport.timeWaitSeconds)
    }
}
