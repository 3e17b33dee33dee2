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

/// Clocks and CPU usage, from the kernel.
public enum Clock {
    /// `CLOCK_MONOTONIC` in nanoseconds: the schedule's clock (never jumps with the wall clock).
    public static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// `CLOCK_REALTIME` in seconds since 1970: what a sample is stamped with.
    public static func wall() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// User + system CPU time of the whole process (every thread), microseconds (`getrusage(RUSAGE_SELF)`).
    public static func processCPU() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
            + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }
}
