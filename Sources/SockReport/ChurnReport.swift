import SockDiag

/// One destination's churn set against its ports: how fast its connections end, how many ports that holds in
/// the steady state, and when `connect()` to it will start failing at this rate.
public struct DestinationChurn: Hashable, Sendable {
    /// The destination (local address, remote address, remote port).
    public var destination: Destination
    /// Connections to it that ended during the window (client sides destroyed).
    public var closes: Int
    /// ``closes`` per second of the window.
    public var closesPerSecond: Double
    /// Median bytes per connection (sent and acknowledged plus received), where the kernel sent `tcp_info`.
    public var bytesMedian: UInt64?
    /// The 90th percentile of bytes per connection.
    public var bytesP90: UInt64?
    /// The share of closes this side made first, so that each left a TIME_WAIT socket holding its port
    /// (measured on a sample of the window's connections); `nil` when it could not be checked.
    public var closedHereShare: Double?
    /// Ports it holds now (sockets to it on ephemeral ports, TIME_WAIT included).
    public var portsInUse: Int
    /// Of those, TIME_WAIT sockets.
    public var timeWait: Int
    /// Ports it can use (the range less reserved and bound ports).
    public var capacity: Int
    /// Seconds a port stays held after this side closes first: TIME_WAIT's 60 s, or the reuse delay where
    /// `tcp_tw_reuse` lets `connect()` take an aged TIME_WAIT socket over.
    public var holdSeconds: Double
    /// Ports held in the steady state at this rate: the connections not in TIME_WAIT now, plus the closes
    /// made here per second times ``holdSeconds``.
    public var steadyStatePorts: Int
    /// Seconds from now until ports held reach ``capacity`` at this rate (0: already); `nil` when the steady
    /// state stays below it.
    public var secondsToExhaustion: Double?

    /// ``steadyStatePorts`` over ``capacity``.
    public var steadyStateUtilization: Double { utilization(used: steadyStatePorts, capacity: capacity) }
}

/// Connection churn over a window, per destination, worst first.
public struct ChurnReport: Sendable {
    /// The window, seconds.
    public var durationSeconds: Double
    /// Connections that ended (client sides destroyed), all destinations.
    public var closes: Int
    /// ``closes`` per second.
    public var closesPerSecond: Double
    /// Destinations, those that run out soonest first, then by close rate.
    public var destinations: [DestinationChurn]
    /// Client-side connections aborted here (reset, no TIME_WAIT), destination unknown.
    public var abortedCloses: Int
    /// Closes of destinations beyond the tracker's limit (not shown apart).
    public var otherCloses: Int
    /// Destroyed sockets that were not client connections (accepted server sides, listeners, UDP).
    public var otherSockets: Int
    /// Events the kernel dropped because the receive buffer was full (the counts are low by at most this).
    public var droppedEvents: UInt64
    /// The thresholds of the verdict, percent of capacity in the steady state.
    public var thresholds: PortThresholds
    /// The port sysctls of the namespace (range, `tcp_tw_reuse`), from the ports analysis.
    public var settings: PortSettings
    /// Ports each destination can use: the range less reserved and bound ports.
    public var capacity: Int
    /// `critical` when a destination runs out at this rate, else by the worst steady-state utilization.
    public var verdict: PortVerdict

    /// Sets what `tracker` counted over `durationSeconds` against the ports analysis taken at the end
    /// (`ports`) and the TIME_WAIT sockets' remaining lives (`timeWaitExpiries`, milliseconds, per
    /// destination, from a dump's `idiag_expires`: until each one's port is free for `connect()` again).
    ///
    /// Destinations in `idleDestinations` that the tracker saw no close of are listed too, with their ports
    /// (a keep-alive pool: no closes, no exhaustion unless its connections alone fill the ports).
    public init(
        tracker: ChurnTracker, durationSeconds: Double, droppedEvents: UInt64 = 0, ports: PortReport,
        timeWaitExpiries: [Destination: [UInt32]], thresholds: PortThresholds = PortThresholds(),
        idleDestinations: Set<Destination> = []
    ) {
        self.durationSeconds = durationSeconds
        closes = tracker.closes
        closesPerSecond = durationSeconds > 0 ? Double(tracker.closes) / durationSeconds : 0
        otherCloses = tracker.otherCloses
        abortedCloses = tracker.abortedCloses
        otherSockets = tracker.otherSockets
        self.droppedEvents = droppedEvents
        self.thresholds = thresholds
        settings = ports.settings
        capacity = ports.capacity
        let byDestination = Dictionary(ports.destinations.map { ($0.destination, $0) }, uniquingKeysWith: { a, _ in a })
        let settings = ports.settings
        var rows: [DestinationChurn] = []
        for (destination, count) in tracker.destinations {
            let held = byDestination[destination]
            let capacity = held?.capacity ?? ports.capacity
            let timeWait = Int(held?.states[.timeWait] ?? 0)
            let inUse = held?.used ?? 0
            let hold = settings.holdSeconds(to: destination)
            let rate = durationSeconds > 0 ? Double(count.closes) / durationSeconds : 0
            // Without a TIME_WAIT check, every close is taken as made here: the worst case.
            let heldRate = rate * (count.closedHereShare ?? 1)
            let notTimeWait = max(0, inUse - timeWait)
            let steady = notTimeWait + Int((heldRate * hold).rounded())
            rows.append(
                DestinationChurn(
                    destination: destination, closes: count.closes, closesPerSecond: rate,
                    bytesMedian: count.bytes.percentile(0.5), bytesP90: count.bytes.percentile(0.9),
                    closedHereShare: count.closedHereShare, portsInUse: inUse, timeWait: timeWait, capacity: capacity,
                    holdSeconds: hold, steadyStatePorts: steady,
                    secondsToExhaustion: Self.secondsToExhaustion(
                        notTimeWait: notTimeWait, timeWaitExpiries: timeWaitExpiries[destination] ?? [],
                        rate: heldRate, holdSeconds: hold, capacity: capacity)))
        }
        for destination in idleDestinations where tracker.destinations[destination] == nil {
            guard let held = byDestination[destination] else { continue }
            let timeWait = Int(held.states[.timeWait])
            rows.append(
                DestinationChurn(
                    destination: destination, closes: 0, closesPerSecond: 0, bytesMedian: nil, bytesP90: nil,
                    closedHereShare: nil, portsInUse: held.used, timeWait: timeWait, capacity: held.capacity,
                    holdSeconds: settings.holdSeconds(to: destination),
                    steadyStatePorts: held.used - timeWait,
                    secondsToExhaustion: held.blocking >= held.capacity ? 0 : nil))
        }
        rows.sort {
            switch ($0.secondsToExhaustion, $1.secondsToExhaustion) {
            case (let a?, let b?) where a != b: return a < b
            case (.some, .none): return true
            case (.none, .some): return false
            default:
                if $0.closes != $1.closes { return $0.closes > $1.closes }
                if $0.portsInUse != $1.portsInUse { return $0.portsInUse > $1.portsInUse }
                return $0.destination < $1.destination
            }
        }
        destinations = rows
        if rows.contains(where: { $0.secondsToExhaustion != nil }) {
            verdict = .critical
        } else {
            let worst = (rows.map(\.steadyStateUtilization).max() ?? 0) * 100
            verdict =
                worst >= thresholds.critical - 1e-9 ? .critical : worst >= thresholds.warn - 1e-9 ? .warn : .ok
        }
    }

    /// Whether any destination runs out of ports at its rate, or holds `percent` or more of its capacity in
    /// the steady state (`churn --fail-at`).
    public func isAtOrOver(percent: Double) -> Bool {
        destinations.contains {
            $0.secondsToExhaustion != nil || $0.steadyStateUtilization * 100 >= percent - 1e-9
        }
    }

    /// When the ports held first reach `capacity`, from now: the connections not in TIME_WAIT stay, today's
    /// TIME_WAIT sockets leave as their timers run out, and closes made here add one port each per second of
    /// `rate`, each held for `holdSeconds`. Looked at in steps of 0.1 s over one hold time (after that the
    /// count is the steady state).
    ///
    /// - Returns: seconds (0 when already at capacity), or `nil` when it never gets there.
    public static func secondsToExhaustion(
        notTimeWait: Int, timeWaitExpiries: [UInt32], rate: Double, holdSeconds: Double, capacity: Int
    ) -> Double? {
        let expiries = timeWaitExpiries.sorted()
        if notTimeWait + expiries.count >= capacity { return 0 }
        if Double(notTimeWait) + rate * holdSeconds < Double(capacity) && expiries.isEmpty { return nil }
        let steps = max(1, Int((holdSeconds * 10).rounded(.up)))
        var expired = 0
        for step in 1...steps {
            let t = Double(step) / 10
            let ms = UInt32(clamping: Int(t * 1000))
            while expired < expiries.count && expiries[expired] <= ms { expired += 1 }
            let held = Double(notTimeWait + expiries.count - expired) + rate * min(t, holdSeconds)
            if held >= Double(capacity) {
                // Within the step, linearly: when the count crossed the capacity.
                return max(0, t - 0.1, t - (held - Double(capacity)) / max(rate, 1e-9))
            }
        }
        return nil
    }
}

extension ChurnReport {
    /// The end of a churn window: one ports analysis of `scanner`'s namespace (``PortExhaustion/analyze``,
    /// so capacity and ports in use are those `ports` shows) whose connection dump also gives the TIME_WAIT
    /// sockets (which of the tracker's sampled connections this side closed first, and when their ports
    /// free up), then the report.
    ///
    /// - Parameters:
    ///   - tracker: what a ``ChurnCollector`` counted over the window.
    ///   - durationSeconds: the window.
    ///   - droppedEvents: events the kernel dropped in the window.
    ///   - scanner: opened on the namespace the events came from.
    ///   - filter: the events' filter (devices resolved, as ``SocketEventMonitor/filter`` holds it): a
    ///     destination without closes is listed when one of its sockets matches it (every one without).
    ///   - thresholds: for the verdict.
    /// - Throws: what ``PortExhaustion/analyze(scanner:settings:thresholds:maxDestinations:connections:holders:connection:)``
    ///   throws.
    public static func measure(
        tracker: ChurnTracker, durationSeconds: Double, droppedEvents: UInt64 = 0, scanner: Scanner,
        filter: Filter? = nil, thresholds: PortThresholds = PortThresholds()
    ) throws -> ChurnReport {
        var tracker = tracker
        var timeWait = Set<SocketPair>()
        var expiries: [Destination: [UInt32]] = [:]
        var idle = Set<Destination>()
        let expression = filter?.expression
        let ports = try PortExhaustion.analyze(
            scanner: scanner, thresholds: thresholds,
            connection: { usage, record in
                if usage.addHolder(record) { return }
                usage.addConnection(record)
                guard usage.isEphemeral(record.local.port) else { return }
                let destination = Destination(
                    localAddress: record.local.address, remoteAddress: record.remote.address,
                    remotePort: record.remote.port)
                guard tracker.destinations[destination] != nil else {
                    if expression?.matches(record) ?? true { idle.insert(destination) }
                    return
                }
                guard record.state == .timeWait else { return }
                timeWait.insert(SocketPair(local: record.local, remote: record.remote))
                // A port free now (a TIME_WAIT socket tcp_tw_reuse may hand over) holds nothing.
                let freedIn = portFreedIn(record.timer, settings: usage.settings, destination: destination)
                if freedIn > 0 { expiries[destination, default: []].append(freedIn) }
            })
        tracker.recordTimeWait(timeWait)
        return ChurnReport(
            tracker: tracker, durationSeconds: durationSeconds, droppedEvents: droppedEvents, ports: ports,
            timeWaitExpiries: expiries, thresholds: thresholds, idleDestinations: idle)
    }

    /// Milliseconds until a TIME_WAIT socket's port is free for `connect()` to its destination: when its timer
    /// runs out, or, where `tcp_tw_reuse` applies, when it is older than the reuse delay (0 when it already
    /// is). Without a TIME_WAIT timer (the /proc path), a whole TIME_WAIT.
    static func portFreedIn(_ timer: SocketTimer, settings: PortSettings, destination: Destination) -> UInt32 {
        let length = UInt32(PortReport.timeWaitSeconds * 1000)
        guard timer.kind == .timeWait else { return length }
        guard settings.timeWaitReuseApplies(to: destination) else { return timer.expiresMilliseconds }
        let delay = UInt32(clamping: settings.timeWaitReuseDelayMilliseconds)
        // Aged when length - expires >= delay: free in expires - (length - delay), or now.
        let agedAt = length > delay ? length - delay : 0
        return timer.expiresMilliseconds > agedAt ? timer.expiresMilliseconds - agedAt : 0
    }
}
