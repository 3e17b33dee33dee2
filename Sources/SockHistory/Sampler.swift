import Logging
import SockDiag
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// Takes samples of one namespace: the sockstat totals, the TCP per-state counts of one kernel pass, on
/// demand the port-exhaustion analysis, and, once ``countCloses(top:)`` started it, the connections that
/// ended since the previous sample.
///
/// The netlink socket is opened once (inside the namespace, where it stays); each sockstat read runs on a
/// short-lived thread inside the namespace (`/proc/thread-self/net/sockstat`).
public final class Sampler {
    public let namespace: NetworkNamespace?
    public let scanner: Scanner
    /// The per-state count's query: TCP, both families, every state, narrowed by the filter if any; prepared
    /// once (devices resolved, the kernel program compiled) for every sample.
    public let query: PreparedScan
    /// Counts the connections that end in the namespace, once ``countCloses(top:)`` started it.
    public private(set) var churn: ChurnCollector?
    private var intervals = CloseIntervals(top: 0)
    private var droppedLogged = false
    private let logger: Logger

    /// - Parameter logger: where the scanner's warnings go (a fallback to `/proc`), and why counting closes
    ///   stopped, if it does.
    /// - Throws: what ``Scanner/init(namespace:source:tcpStrategy:allowProcFallback:logger:)`` throws.
    public init(
        namespace: NetworkNamespace?, filter: Filter? = nil, logger: Logger = Logger(label: "sockscan.history")
    ) throws {
        self.namespace = namespace
        self.logger = logger
        scanner = try Scanner(namespace: namespace, logger: logger)
        query = try scanner.prepare(ScanQuery(protocols: .tcp, families: .all, states: .all, filter: filter))
    }

    /// Starts counting the TCP connections that end in the namespace (``ChurnCollector``, on a thread of its
    /// own): from the second sample on, each sample carries the closes since the previous one
    /// (``Sample/closes``), with the `top` busiest destinations. The filter does not apply: like sockstat's
    /// totals, the closes are the namespace's.
    ///
    /// - Throws: what ``ChurnCollector/start(namespace:refresh:)`` throws (the kernel refused the destroy events: a
    ///   seccomp or container policy); the samples then go on without closes.
    public func countCloses(top: Int) throws {
        churn = try ChurnCollector.start(namespace: namespace)
        intervals = CloseIntervals(top: top)
    }

    /// Reads sockstat and counts TCP sockets per state (one kernel pass for both families); with
    /// ``countCloses(top:)``, adds the closes since the previous sample.
    public func take(time: Double) throws -> Sample {
        let closes = churn.flatMap(intervalCloses)
        let stat = try Sockstat.read(namespace: namespace)
        let counts = try scanner.count(query)
        var sample = Sample(time: time, sockstat: stat, counts: counts)
        sample.closes = closes
        return sample
    }

    /// The closes since the previous call; when the counting thread failed, says why once and stops counting.
    private func intervalCloses(_ churn: ChurnCollector) -> IntervalCloses? {
        let totals = churn.totals()
        if let failure = totals.failure {
            logger.warning("counting closed connections stopped: \(failure); the samples go on without closes/s")
            self.churn = nil
            return nil
        }
        let closes = intervals.next(totals, at: Double(Clock.monotonic()) / 1e9)
        if let closes, closes.droppedEvents > 0, !droppedLogged {
            droppedLogged = true
            let why = DroppedEvents.explanation(closes.droppedEvents, receiveBuffer: churn.monitor.receiveBufferBytes)
            logger.warning("\(why); the samples count them (report: close_events_dropped)")
        }
        return closes
    }

    /// The port-exhaustion analysis (``PortExhaustion/analyze(scanner:settings:thresholds:maxDestinations:)``)
    /// reduced to what the history keeps.
    public func ports(top: Int) throws -> PortSnapshot {
        PortSnapshot(try PortExhaustion.analyze(scanner: scanner), top: top)
    }
}
