import SockDiag

/// Connections closed to one destination (client sides destroyed, as ``ChurnTracker`` counts them).
public struct DestinationCloses: Hashable, Sendable {
    /// The destination (local address, remote address, remote port).
    public var destination: Destination
    /// Connections to it that ended.
    public var closes: Int

    /// `closes` connections to `destination`.
    public init(destination: Destination, closes: Int) {
        self.destination = destination
        self.closes = closes
    }

    /// The `n` destinations of `counts` with the most closes, most first (ties in ``Destination`` order);
    /// destinations without a close are left out. The one ranking of `watch`, `record`, `report` and the
    /// metrics.
    public static func top(_ counts: [Destination: Int], _ n: Int) -> [DestinationCloses] {
        guard n > 0 else { return [] }
        return counts.lazy.filter { $0.value > 0 }.map { DestinationCloses(destination: $0.key, closes: $0.value) }
            .sorted { $0.closes != $1.closes ? $0.closes > $1.closes : $0.destination < $1.destination }
            .prefix(n).map { $0 }
    }
}

/// The connections closed in one interval, between two readings of a ``ChurnCollector``'s running totals:
/// what `watch` and `record` add to each sample.
public struct IntervalCloses: Hashable, Sendable {
    /// Client-side TCP connections that ended in the interval, all destinations.
    public var closes: Int
    /// The interval, seconds (measured between the two readings on the monotonic clock).
    public var seconds: Double
    /// Destroy events the kernel dropped in the interval (``closes`` is low by at most this many).
    public var droppedEvents: Int
    /// The destinations with the most closes in the interval, most first: at most the `top` asked for, none
    /// without a close.
    public var top: [DestinationCloses]

    /// `closes` over `seconds` with the busiest destinations `top`.
    public init(closes: Int, seconds: Double, droppedEvents: Int = 0, top: [DestinationCloses] = []) {
        self.closes = closes
        self.seconds = seconds
        self.droppedEvents = droppedEvents
        self.top = top
    }

    /// ``closes`` per second of the interval (0 for an empty interval).
    public var closesPerSecond: Double { seconds > 0 ? Double(closes) / seconds : 0 }

    /// `destination`'s closes per second of the interval.
    public func closesPerSecond(_ closes: DestinationCloses) -> Double {
        seconds > 0 ? Double(closes.closes) / seconds : 0
    }
}

/// Turns a ``ChurnCollector``'s running totals, read once per sample, into the closes of each interval: the
/// difference between two readings, overall and per destination.
public struct CloseIntervals: Sendable {
    /// Destinations kept per interval (the busiest).
    public let top: Int
    private var previous: (totals: ChurnTotals, seconds: Double)?

    /// No reading yet; each interval will keep its `top` busiest destinations.
    public init(top: Int) { self.top = max(0, top) }

    /// The closes since the previous reading, `nil` at the first (it starts the first interval).
    ///
    /// - Parameters:
    ///   - totals: the collector's totals now.
    ///   - seconds: now on a clock that never jumps (``Clock/monotonic()`` in seconds).
    public mutating func next(_ totals: ChurnTotals, at seconds: Double) -> IntervalCloses? {
        defer { previous = (totals, seconds) }
        guard let previous else { return nil }
        var delta: [Destination: Int] = [:]
        if top > 0 {
            delta.reserveCapacity(totals.byDestination.count)
            for (destination, closes) in totals.byDestination {
                let change = closes - (previous.totals.byDestination[destination] ?? 0)
                if change > 0 { delta[destination] = change }
            }
        }
        let dropped =
            totals.droppedEvents >= previous.totals.droppedEvents
            ? totals.droppedEvents - previous.totals.droppedEvents : 0
        return IntervalCloses(
            closes: max(0, totals.closes - previous.totals.closes), seconds: max(0, seconds - previous.seconds),
            droppedEvents: Int(clamping: dropped), top: DestinationCloses.top(delta, top))
    }
}

/// Why close counts are low when the kernel dropped destroy events, said once by `watch`, `record` and `serve`.
public enum DroppedEvents {
    /// `the kernel dropped 12 destroy events (receive buffer 4096 KiB full): closes are low by as many; …`
    public static func explanation(_ dropped: Int, receiveBuffer bytes: Int) -> String {
        "the kernel dropped \(dropped) destroy event\(dropped == 1 ? "" : "s") (receive buffer \(bytes / 1024) KiB full): "
            + "closes are low by as many (CAP_NET_ADMIN lets sockscan take 8 MiB, past net.core.rmem_max)"
    }
}

extension ChurnCollector {
    /// Starts counting the TCP connections that end in `namespace` (the caller's when `nil`), its client
    /// sides told by the namespace's `ip_local_port_range` less the ports its listeners hold there (both
    /// read at the start, then again every `refresh`: a listener started later, or a changed range, counts
    /// from then on; a listener's port stays a server port for 10 minutes after it was last seen, for the
    /// connections it accepted).
    ///
    /// Joining the destroy groups needs no capability (the kernel lets any user listen to them, as it lets
    /// any user dump sockets); `CAP_NET_ADMIN` only lets the receive buffer grow past `net.core.rmem_max`.
    ///
    /// - Throws: ``SockDiagError`` where the kernel refuses (a seccomp or container policy), or
    ///   ``PortSettingsError`` when the port range cannot be read.
    public static func start(namespace: NetworkNamespace?, refresh: Duration = .seconds(10)) throws -> ChurnCollector {
        let source = ClientSidesSource.namespace(namespace, scanner: try Scanner(namespace: namespace), every: refresh)
        let monitor = try SocketEventMonitor(namespace: namespace, protocols: .tcp)
        return try ChurnCollector(monitor: monitor, clientSides: source)
    }
}

extension ChurnCollector.ClientSidesSource {
    /// The client sides of `namespace` (the caller's when `nil`): its `ip_local_port_range` less the ports
    /// its TCP listeners hold there (one dump by `scanner`, which scans that namespace), re-read `every`.
    public static func namespace(_ namespace: NetworkNamespace?, scanner: Scanner, every interval: Duration) -> Self {
        Self(interval: interval) {
            let range = try PortSettings.read(namespace: namespace).range
            return (range, try PortExhaustion.listenerPorts(scanner: scanner, range: range))
        }
    }
}
