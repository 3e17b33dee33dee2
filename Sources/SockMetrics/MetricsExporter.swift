import Logging
import SockDiag
import SockReport

/// One collection, rendered in both formats, so that every scrape that shares it only writes bytes.
public struct RenderedMetrics: Sendable {
    public var snapshot: SocketSnapshot
    public var families: [MetricFamily]
    public var prometheus: [UInt8]
    public var openMetrics: [UInt8]

    /// The body for `format`.
    public func body(_ format: ExpositionFormat) -> [UInt8] {
        format == .prometheus ? prometheus : openMetrics
    }
}

/// The exporter behind `sockscan serve`: one scanner on one thread, collections coalesced and cached.
public final class MetricsExporter: Sendable {
    /// Collections run, failures, dump requests: updated on the collecting thread.
    private let coalescer: ScrapeCoalescer<RenderedMetrics>
    /// The namespace scanned, when it was named (`--netns`).
    private let watch: NamespaceWatch?

    /// Opens the scanner and starts the collecting thread.
    ///
    /// - Parameters:
    ///   - namespace: the namespace to watch, nil for the caller's.
    ///   - top: destinations to expose utilization for; 0 none.
    ///   - maxAge: how long a collection is served again (`--cache`).
    ///   - version: the `version` label of `sockscan_build_info`.
    ///   - logger: where the scanner's warnings go (a fallback to `/proc`), and the namespace gone, once.
    ///   - closes: counts the connections that end in the namespace, started just before (``ChurnCollector/start(namespace:refresh:)``):
    ///     the exposition then has `sockscan_connections_closed_total` for `top` destinations and `other`
    ///     (``CloseCounters``) and their `sockscan_port_exhaustion_seconds`.
    /// - Throws: what ``Scanner/init(namespace:source:tcpStrategy:allowProcFallback:logger:)`` throws, or
    ///   ``CoalescerError``.
    public convenience init(
        namespace: NetworkNamespace?, top: Int, maxAge: Duration, version: String,
        logger: Logger = Logger(label: "sockscan.metrics"), closes: ChurnCollector? = nil
    ) throws {
        let scanner = try Scanner(namespace: namespace, logger: logger)
        let collector = SocketMetricsCollector(scanner: scanner, top: top)
        let watch = namespace.map { NamespaceWatch($0, logger: logger) }
        let now = { Double(Clock.monotonic()) / 1e9 }
        // On the collecting thread only: no lock.
        var counters = closes.map { _ in CloseCounters(top: top, startedAt: now()) }
        var failureLogged = false
        var droppedLogged = false
        try self.init(top: top, maxAge: maxAge, version: version, watch: watch) {
            if let closes, counters != nil {
                let totals = closes.totals()
                if let failure = totals.failure, !failureLogged {
                    failureLogged = true
                    logger.warning(
                        "counting closed connections stopped: \(failure); sockscan_connections_closed_total stays where it was"
                    )
                }
                counters!.update(totals, at: now())  // in place: the counters are not copied
                if totals.droppedEvents > 0 && !droppedLogged {
                    droppedLogged = true
                    logger.warning(
                        "\(DroppedEvents.explanation(Int(clamping: totals.droppedEvents), receiveBuffer: closes.monitor.receiveBufferBytes)); sockscan_close_events_dropped_total counts them"
                    )
                }
            }
            var snapshot = try collector.collect(watching: Set(counters?.current ?? []))
            if let gone = snapshot.namespaceGone { watch?.found(gone) }
            snapshot.closes = counters?.snapshot(holds: snapshot.holds)
            return snapshot
        }
    }

    /// An exporter over any source of snapshots: another collector, or a test's.
    ///
    /// - Parameters:
    ///   - top: destinations to expose utilization for; 0 none.
    ///   - maxAge: how long a collection is served again (`--cache`).
    ///   - version: the `version` label of `sockscan_build_info`.
    ///   - collect: makes one snapshot; runs only on the collecting thread, never twice at once.
    /// - Throws: ``CoalescerError`` when the collecting thread cannot be started.
    public convenience init(
        top: Int, maxAge: Duration, version: String, collect: @escaping () throws -> SocketSnapshot
    ) throws {
        try self.init(top: top, maxAge: maxAge, version: version, watch: nil, collect: collect)
    }

    private init(
        top: Int, maxAge: Duration, version: String, watch: NamespaceWatch?,
        collect: @escaping () throws -> SocketSnapshot
    ) throws {
        self.watch = watch
        var counters = ExporterCounters()
        coalescer = try ScrapeCoalescer(maxAge: maxAge) {
            // On the collecting thread only: the counters need no lock.
            counters.scans += 1
            let snapshot: SocketSnapshot
            do {
                snapshot = try collect()
            } catch {
                counters.failures += 1
                throw error
            }
            counters.dumpRequests += snapshot.dumpRequests
            let families = SocketMetrics.families(snapshot, top: top, version: version, counters: counters)
            return RenderedMetrics(
                snapshot: snapshot, families: families,
                prometheus: Exposition.render(families, as: .prometheus),
                openMetrics: Exposition.render(families, as: .openMetrics))
        }
    }

    /// Hands `completion` a fresh enough collection (see ``ScrapeCoalescer/get(_:)``).
    public func get(_ completion: @escaping @Sendable (Result<RenderedMetrics, any Error>) -> Void) {
        coalescer.get(completion)
    }

    /// Blocks until a collection is ready.
    public func get() throws -> RenderedMetrics { try coalescer.get() }

    /// Collections made so far.
    public var collections: Int { coalescer.collections }

    /// Why the last collection failed: nil when it succeeded or none has finished yet.
    public var lastError: (any Error)? { coalescer.lastError }

    /// Why the namespace scanned is gone (``NetworkNamespace/checkLiveness()``, checked now), `nil` while it is
    /// there or when none was named. `/healthz` answers 503 with it.
    public var namespaceGone: NamespaceGone? { watch?.check() }

    /// Stops the collecting thread (after the running collection) and closes the scanner.
    public func shutdown() { coalescer.shutdown() }
}

/// The namespace a ``MetricsExporter`` scans: whether it is gone, said once in the log when first found so.
final class NamespaceWatch: @unchecked Sendable {
    let namespace: NetworkNamespace
    let logger: Logger
    private let lock = ConditionLock()
    /// Guarded by `lock`.
    private var logged = false

    init(_ namespace: NetworkNamespace, logger: Logger) {
        self.namespace = namespace
        self.logger = logger
    }

    /// Checks the namespace now.
    func check() -> NamespaceGone? {
        guard let gone = namespace.checkLiveness() else { return nil }
        found(gone)
        return gone
    }

    /// Logs `gone`, the first time only.
    func found(_ gone: NamespaceGone) {
        let first = lock.locked {
            defer { logged = true }
            return !logged
        }
        if first {
            logger.warning(
                "\(gone); /healthz answers 503 and sockscan_namespace_up is 0 from now on (restart sockscan once the namespace is back)"
            )
        }
    }
}
