import Logging
import SockDiag

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

    /// Opens the scanner and starts the collecting thread.
    ///
    /// - Parameters:
    ///   - namespace: the namespace to watch, nil for the caller's.
    ///   - top: destinations to expose utilization for; 0 none.
    ///   - maxAge: how long a collection is served again (`--cache`).
    ///   - version: the `version` label of `sockscan_build_info`.
    ///   - logger: where the scanner's warnings go (a fallback to `/proc`).
    /// - Throws: what ``Scanner/init(namespace:source:tcpStrategy:allowProcFallback:logger:)`` throws, or
    ///   ``CoalescerError``.
    public convenience init(
        namespace: NetworkNamespace?, top: Int, maxAge: Duration, version: String,
        logger: Logger = Logger(label: "sockscan.metrics")
    ) throws {
        let scanner = try Scanner(namespace: namespace, logger: logger)
        let collector = SocketMetricsCollector(scanner: scanner, top: top)
        try self.init(top: top, maxAge: maxAge, version: version) { try collector.collect() }
    }

    /// An exporter over any source of snapshots: another collector, or a test's.
    ///
    /// - Parameters:
    ///   - top: destinations to expose utilization for; 0 none.
    ///   - maxAge: how long a collection is served again (`--cache`).
    ///   - version: the `version` label of `sockscan_build_info`.
    ///   - collect: makes one snapshot; runs only on the collecting thread, never twice at once.
    /// - Throws: ``CoalescerError`` when the collecting thread cannot be started.
    public init(top: Int, maxAge: Duration, version: String, collect: @escaping () throws -> SocketSnapshot) throws {
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

    /// Stops the collecting thread (after the running collection) and closes the scanner.
    public func shutdown() { coalescer.shutdown() }
}
