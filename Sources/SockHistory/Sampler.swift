import Logging
import SockDiag
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// Takes samples of one namespace: the sockstat totals, the TCP per-state counts of one kernel pass, and
/// on demand the port-exhaustion analysis.
///
/// The netlink socket is opened once (inside the namespace, where it stays); each sockstat read runs on a
/// short-lived thread inside the namespace (`/proc/thread-self/net/sockstat`).
public final class Sampler {
    public let namespace: NetworkNamespace?
    public let scanner: Scanner
    /// The per-state count's query: TCP, both families, every state, narrowed by the filter if any; prepared
    /// once (devices resolved, the kernel program compiled) for every sample.
    public let query: PreparedScan

    /// - Parameter logger: where the scanner's warnings go (a fallback to `/proc`).
    /// - Throws: what ``Scanner/init(namespace:source:tcpStrategy:allowProcFallback:logger:)`` throws.
    public init(
        namespace: NetworkNamespace?, filter: Filter? = nil, logger: Logger = Logger(label: "sockscan.history")
    ) throws {
        self.namespace = namespace
        scanner = try Scanner(namespace: namespace, logger: logger)
        query = try scanner.prepare(ScanQuery(protocols: .tcp, families: .all, states: .all, filter: filter))
    }

    /// Reads sockstat and counts TCP sockets per state (one kernel pass for both families).
    public func take(time: Double) throws -> Sample {
        let stat = try Sockstat.read(namespace: namespace)
        let counts = try scanner.count(query)
        return Sample(time: time, sockstat: stat, counts: counts)
    }

    /// The port-exhaustion analysis (``PortExhaustion/analyze(scanner:settings:thresholds:maxDestinations:)``)
    /// reduced to what the history keeps.
    public func ports(top: Int) throws -> PortSnapshot {
        PortSnapshot(try PortExhaustion.analyze(scanner: scanner), top: top)
    }
}
