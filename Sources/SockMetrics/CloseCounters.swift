import SockDiag
import SockReport

/// The closed-connection counters of a long-running exporter: `sockscan_connections_closed_total` per
/// destination for the `top` destinations with the most closes over the last minute, and one `other` series
/// for the rest, every series monotonic; and each exported destination's close rate.
///
/// Counters must never go down, and label sets must stay few. So each collection hands the closes made since
/// the previous one to exactly one series: to a destination's own series when it is among the `top` now, else
/// to `other`. A destination that leaves the top keeps its value (its series is no longer exposed; its later
/// closes go to `other`), and resumes from that value if it comes back; `other` never gives anything back.
/// So every close is counted once: `sum(rate(...))` over all series is the namespace's close rate, with no
/// jump when the top changes; a destination's own series counts its closes while it was in the top.
///
/// Memory is bounded by the ``ChurnCollector``'s destinations (10,000 at most) and one running total per
/// five seconds of the last minute.
public struct CloseCounters: Sendable {
    /// Destinations exposed with a series of their own.
    public let top: Int
    /// Each destination's series value, for every destination ever exposed.
    public private(set) var values: [Destination: Int] = [:]
    /// The `other` series: closes made while their destination was not among the top.
    public private(set) var other = 0
    /// The destinations exposed now, the most closes over the window first.
    public private(set) var current: [Destination] = []
    /// Closes per destination exposed now over ``windowSeconds``.
    public private(set) var windowCloses: [Destination: Int] = [:]
    /// The span the ranking and the rates are measured over: the last minute (up to five seconds more), or
    /// since counting began.
    public private(set) var windowSeconds = 0.0
    /// Destroy events the kernel dropped since counting began.
    public private(set) var droppedEvents: UInt64 = 0
    private var previous = ChurnTotals()
    /// Running totals at most every ``spacing`` seconds over the last ``window`` seconds, oldest first.
    private var history: [(seconds: Double, byDestination: [Destination: Int])]

    /// The window of the ranking and the rates, seconds.
    public static let window = 60.0
    /// Seconds between the running totals kept for the window.
    public static let spacing = 5.0

    /// Counters at zero, counting from `seconds` (on a clock that never jumps).
    public init(top: Int, startedAt seconds: Double) {
        self.top = max(0, top)
        history = [(seconds, [:])]
    }

    /// Hands the closes since the previous update to the series, then ranks the destinations by their closes
    /// over the window.
    ///
    /// - Parameters:
    ///   - totals: the ``ChurnCollector``'s running totals now.
    ///   - seconds: now, on the clock of `init`.
    public mutating func update(_ totals: ChurnTotals, at seconds: Double) {
        // The closes since the previous update go to the series exposed at this update: the top over the
        // window that ends now.
        let start = history[0]
        windowSeconds = max(0, seconds - start.seconds)
        var overWindow: [Destination: Int] = [:]
        for (destination, closes) in totals.byDestination {
            let change = closes - (start.byDestination[destination] ?? 0)
            if change > 0 { overWindow[destination] = change }
        }
        let ranked = DestinationCloses.top(overWindow, top)
        current = ranked.map(\.destination)
        windowCloses = Dictionary(uniqueKeysWithValues: ranked.map { ($0.destination, $0.closes) })
        var attributed = 0
        for destination in current {
            let change = max(0, (totals.byDestination[destination] ?? 0) - (previous.byDestination[destination] ?? 0))
            values[destination, default: 0] += change
            attributed += change
        }
        other += max(0, totals.closes - previous.closes - attributed)
        droppedEvents = max(droppedEvents, totals.droppedEvents)
        previous = totals
        if seconds - history[history.count - 1].seconds >= Self.spacing {
            history.append((seconds, totals.byDestination))
        }
        while history.count > 1 && seconds - history[1].seconds >= Self.window { history.removeFirst() }
    }

    /// `destination`'s closes per second over the window (0 when it is not exposed now).
    public func closesPerSecond(_ destination: Destination) -> Double {
        windowSeconds > 0 ? Double(windowCloses[destination] ?? 0) / windowSeconds : 0
    }

    /// What the exposition shows now, each exposed destination's time to exhaustion estimated from `holds`
    /// (its ports held now, ``SocketSnapshot/holds``) at its close rate, of which the share made here is the
    /// TIME_WAIT sockets begun over the window against its closes (``PortHold/closedHereShare(closes:inLast:)``).
    public func snapshot(holds: [Destination: PortHold]) -> ClosesSnapshot {
        ClosesSnapshot(
            series: current.map { DestinationCloses(destination: $0, closes: values[$0] ?? 0) }, other: other,
            droppedEvents: droppedEvents,
            exhaustion: current.compactMap { destination in
                guard let hold = holds[destination] else { return nil }
                let share = hold.closedHereShare(closes: windowCloses[destination] ?? 0, inLast: windowSeconds)
                return DestinationExhaustion(
                    destination: destination,
                    seconds: hold.secondsToExhaustion(
                        closesPerSecond: closesPerSecond(destination), closedHereShare: share))
            })
    }
}

/// One destination's estimated time until `connect()` to it fails for want of ports.
public struct DestinationExhaustion: Hashable, Sendable {
    /// The destination.
    public var destination: Destination
    /// Seconds from now (0: already), `nil` when it never runs out at its current rate.
    public var seconds: Double?

    /// `destination` runs out in `seconds`.
    public init(destination: Destination, seconds: Double?) {
        self.destination = destination
        self.seconds = seconds
    }
}

/// The closed-connection series of one collection (``CloseCounters/snapshot(holds:)``).
public struct ClosesSnapshot: Hashable, Sendable {
    /// The destinations exposed, each with its series value, the most closes over the window first.
    public var series: [DestinationCloses]
    /// The `other` series.
    public var other: Int
    /// Destroy events the kernel dropped since counting began.
    public var droppedEvents: UInt64
    /// The exposed destinations' times to exhaustion.
    public var exhaustion: [DestinationExhaustion]

    /// The series as given.
    public init(
        series: [DestinationCloses], other: Int, droppedEvents: UInt64, exhaustion: [DestinationExhaustion]
    ) {
        self.series = series
        self.other = other
        self.droppedEvents = droppedEvents
        self.exhaustion = exhaustion
    }
}
