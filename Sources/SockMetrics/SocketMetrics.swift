import SockDiag
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// What one collection read from a namespace: socket counts, sockstat totals and the port picture.
public struct SocketSnapshot: Sendable {
    /// Socket counts per state, indexed by ``SocketSnapshot/slot(_:_:)`` (tcp/inet, tcp/inet6, udp/inet, udp/inet6).
    public var counts: [StateCounts] = Array(repeating: StateCounts(), count: 4)
    public var sockstat = Sockstat()
    /// The system page size, to turn sockstat's `mem` pages into bytes.
    public var pageSize = 4096
    /// The ephemeral port range.
    public var range = PortRange(low: 32768, high: 60999)
    /// Ports each destination can use: range - reserved - bound.
    public var capacity = 0
    /// Destinations holding ephemeral ports (0 when ports were not analysed, `top` 0).
    public var destinations = 0
    /// The busiest destinations, most used first (at most the `top` asked for).
    public var top: [DestinationReport] = []
    /// How long the collection took, seconds.
    public var duration: Double = 0
    /// The ports held by each destination asked for (``SocketMetricsCollector/collect(watching:)``): what
    /// its time to exhaustion is estimated from.
    public var holds: [Destination: PortHold] = [:]
    /// The closed-connection counters and estimates of a long-running exporter (``CloseCounters``); `nil`
    /// when closes are not counted (a one-shot exposition, or the kernel refused the destroy events).
    public var closes: ClosesSnapshot?
    /// Kernel dump requests the collection sent.
    public var dumpRequests = 0
    /// Where the records came from.
    public var source = ScanSource.netlink
    /// Why the namespace scanned can no longer be found the way it was named (its process exited, its name
    /// was deleted): then the snapshot holds nothing else, and the exposition says so
    /// (`sockscan_namespace_up 0`) instead of showing an empty namespace. `nil` while it is there.
    public var namespaceGone: NamespaceGone?

    public init() {}

    /// The index into ``counts`` of a protocol and family.
    public static func slot(_ proto: TransportProtocol, _ family: AddressFamily) -> Int {
        (proto == .tcp ? 0 : 2) + (family == .inet ? 0 : 1)
    }

    /// Counts of `proto` over `family`.
    public subscript(proto: TransportProtocol, family: AddressFamily) -> StateCounts {
        get { counts[Self.slot(proto, family)] }
        set { counts[Self.slot(proto, family)] = newValue }
    }
}

/// Reads ``SocketSnapshot``s from one namespace through one ``Scanner``.
///
/// Not for concurrent use (the scanner is not): ``ScrapeCoalescer`` runs it on one dedicated thread.
public final class SocketMetricsCollector {
    public let scanner: Scanner
    /// How many destinations to report; 0 skips the connection dump the port analysis needs.
    public let top: Int

    /// - Parameters:
    ///   - scanner: opened on the namespace to watch.
    ///   - top: the number of destinations to report (bounded label cardinality); 0 reports none.
    public init(scanner: Scanner, top: Int) {
        self.scanner = scanner
        self.top = max(0, top)
    }

    /// Reads the namespace now.
    ///
    /// Three dumps: every TCP and UDP socket in one pass each protocol (counted per protocol, family and
    /// state; listeners and UDP sockets also feed the port analysis); the connected TCP sockets whose port
    /// inside the range was bound explicitly (they reduce the capacity); then, when `top` > 0, the
    /// connected TCP sockets on an ephemeral port, grouped by destination as `sockscan ports` does. The
    /// last two are filtered by the kernel. Plus `/proc/net/sockstat` and the port sysctls, read inside the
    /// namespace.
    /// - Parameter watching: destinations whose ports held to keep in ``SocketSnapshot/holds`` (their
    ///   TIME_WAIT timers read from the connections' dump, made for them even with `top` 0).
    /// - Throws: ``NetlinkError``, ``NamespaceError``, ``ProcNetError``, ``PortSettingsError``.
    ///
    /// A namespace gone (``NetworkNamespace/checkLiveness()``, before and after the reads) gives a snapshot
    /// with only ``SocketSnapshot/namespaceGone`` set: what the descriptor still reaches is no longer the
    /// namespace the operator named.
    public func collect(watching: Set<Destination> = []) throws -> SocketSnapshot {
        let clock = ContinuousClock()
        let start = clock.now
        var snapshot = SocketSnapshot()
        if let gone = scanner.namespace?.checkLiveness() {
            snapshot.namespaceGone = gone
            return snapshot
        }
        var states = StateSet.all
        // TCP_BOUND_INACTIVE (Linux 6.5+): bound sockets that hold a port without listening; older kernels
        // ignore the bit. They are not counted among the states.
        states.insert(PortExhaustion.boundInactive)
        var counts = snapshot.counts
        var expiries: [Destination: [UInt32]] = [:]
        // The analysis of `sockscan ports`, its port holders taken from the one dump of every socket that
        // counts the states; the connections (on an ephemeral port, filtered by the kernel) only with `top`
        // or destinations to watch.
        let report = try PortExhaustion.analyze(
            scanner: scanner, connections: top > 0 || !watching.isEmpty,
            holders: { usage in
                try self.scanner.forEach(ScanQuery(protocols: .all, families: .all, states: states)) { record in
                    usage.addHolder(record)  // connections come with the port-range dump
                    if (1...11).contains(record.state.rawValue) {
                        counts[SocketSnapshot.slot(record.proto, record.family)].add(record.state)
                    }
                }.requests
            },
            connection: watching.isEmpty
                ? nil
                : { usage, record in
                    usage.add(record)
                    guard record.state == .timeWait else { return }
                    let key = Destination(
                        localAddress: record.local.address, remoteAddress: record.remote.address,
                        remotePort: record.remote.port)
                    if watching.contains(key) { expiries[key, default: []].append(record.timer.expiresMilliseconds) }
                })
        snapshot.counts = counts
        if !watching.isEmpty {
            let held = Dictionary(
                report.destinations.lazy.filter { watching.contains($0.destination) }.map { ($0.destination, $0) },
                uniquingKeysWith: { a, _ in a })
            for destination in watching {
                let d = held[destination]
                snapshot.holds[destination] = PortHold(
                    notTimeWait: max(0, (d?.used ?? 0) - Int(d?.states[.timeWait] ?? 0)),
                    timeWaitExpiries: expiries[destination] ?? [],
                    holdSeconds: report.settings.holdSeconds(to: destination),
                    capacity: d?.capacity ?? report.capacity)
            }
        }
        if top > 0 {
            snapshot.destinations = report.destinations.count
            // The same order as `sockscan ports`: most ports blocked first.
            snapshot.top = Array(report.destinations.prefix(top))
        }
        snapshot.sockstat = try Sockstat.read(namespace: scanner.namespace)
        snapshot.pageSize = max(1, sysconf(Int32(_SC_PAGESIZE)))
        snapshot.range = report.settings.range
        snapshot.capacity = report.capacity
        snapshot.dumpRequests = report.requests
        snapshot.source = scanner.source
        snapshot.duration = Self.seconds(clock.now - start)
        if let gone = scanner.namespace?.checkLiveness() {
            // It went while it was read: what was read may be a part of it, or nothing.
            var empty = SocketSnapshot()
            empty.namespaceGone = gone
            return empty
        }
        return snapshot
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}

/// Counters of a long-running exporter (`sockscan serve`); a one-shot exposition has none.
public struct ExporterCounters: Hashable, Sendable {
    /// Collections made (scrapes served from the cache or joined to a running scan make none).
    public var scans = 0
    /// Collections that failed.
    public var failures = 0
    /// Kernel dump requests sent.
    public var dumpRequests = 0

    public init(scans: Int = 0, failures: Int = 0, dumpRequests: Int = 0) {
        self.scans = scans
        self.failures = failures
        self.dumpRequests = dumpRequests
    }
}

/// The metric families of sockscan's exposition.
public enum SocketMetrics {
    /// The states exposed per protocol: TCP's eleven, and UDP's two (`established` for a connected UDP
    /// socket, `close` for an unconnected one, as `ss` filters them). Every one is exposed, zero or not,
    /// so a series never vanishes when a state empties.
    /// The labels that name a destination.
    static func destinationLabels(_ destination: Destination) -> [MetricLabel] {
        [
            .init("local_address", destination.localAddress.description),
            .init("remote_address", destination.remoteAddress.description),
            .init("remote_port", String(destination.remotePort)),
        ]
    }

    public static func exposedStates(_ proto: TransportProtocol) -> [TCPState] {
        proto == .tcp ? TCPState.allCases : [.established, .close]
    }

    /// The families for `snapshot`.
    ///
    /// - Parameters:
    ///   - top: the most destinations to expose utilization for; 0 exposes none.
    ///   - version: the `version` label of `sockscan_build_info`.
    ///   - counters: the exporter's counters (`sockscan serve`), nil for a one-shot exposition.
    public static func families(
        _ snapshot: SocketSnapshot, top: Int, version: String, counters: ExporterCounters? = nil
    ) -> [MetricFamily] {
        var families: [MetricFamily] = [
            MetricFamily(
                name: "sockscan_namespace_up",
                help:
                    "1 while the scanned network namespace can be found as it was named (--netns PID, NAME or PATH), 0 once it is gone (its process exited, its name was deleted): then no socket series are exposed.",
                type: .gauge, samples: [MetricSample([], snapshot.namespaceGone == nil ? 1 : 0)])
        ]
        if snapshot.namespaceGone == nil { families += namespaceFamilies(snapshot, top: top) }
        if let counters {
            families.append(
                MetricFamily(
                    name: "sockscan_scans_total",
                    help: "Collections made; concurrent and cached scrapes share one.",
                    type: .counter, samples: [MetricSample([], Double(counters.scans))]))
            families.append(
                MetricFamily(
                    name: "sockscan_scan_failures_total",
                    help: "Collections that failed.",
                    type: .counter, samples: [MetricSample([], Double(counters.failures))]))
            families.append(
                MetricFamily(
                    name: "sockscan_kernel_dumps_total",
                    help: "sock_diag dump requests sent to the kernel.",
                    type: .counter, samples: [MetricSample([], Double(counters.dumpRequests))]))
        }
        families.append(
            MetricFamily(
                name: "sockscan_build_info",
                help: "The sockscan version, as a label; the value is always 1.",
                type: .info, samples: [MetricSample([.init("version", version)], 1)]))
        return families
    }

    /// The labels of the `other` series: every close not counted in a destination's own series.
    static let otherLabels: [MetricLabel] = [
        .init("local_address", "other"), .init("remote_address", "other"), .init("remote_port", "other"),
    ]

    /// The families of a long-running exporter that counts closes (``CloseCounters``).
    static func closeFamilies(_ closes: ClosesSnapshot) -> [MetricFamily] {
        [
            MetricFamily(
                name: "sockscan_connections_closed_total",
                help:
                    "TCP connections this host opened (local port in ip_local_port_range) that ended, counted from the kernel's destroy events since sockscan started; a series per destination for the --top destinations with the most closes over the last minute, and one series with every label \"other\" for the rest. Each close is counted once, in the series exposed when it was counted: a destination that leaves the top keeps its value (its series disappears; its later closes go to other) and resumes from it if it comes back, so every series only grows and sum(rate(...)) is the total close rate. Connections reset by this side are not counted.",
                type: .counter,
                samples: closes.series.map { MetricSample(Self.destinationLabels($0.destination), Double($0.closes)) }
                    + [MetricSample(Self.otherLabels, Double(closes.other))]),
            MetricFamily(
                name: "sockscan_port_exhaustion_seconds",
                help:
                    "Estimated seconds until connect() to one destination fails for want of ephemeral ports (0: already), at its close rate over the last minute, as its TIME_WAIT sockets expire and each close made here holds a port for 60 s (or the tcp_tw_reuse delay); +Inf when it never runs out at this rate. For the destinations of sockscan_connections_closed_total. Alert on a low value.",
                type: .gauge, unit: "seconds",
                samples: closes.exhaustion.map {
                    MetricSample(Self.destinationLabels($0.destination), $0.seconds ?? .infinity)
                }),
            MetricFamily(
                name: "sockscan_close_events_dropped_total",
                help:
                    "Destroy events the kernel dropped because sockscan's receive buffer was full (exact): the closes counted are low by at most this many.",
                type: .counter, samples: [MetricSample([], Double(closes.droppedEvents))]),
        ]
    }

    /// The families read from the namespace: sockets, sockstat, ports, the scan's duration.
    static func namespaceFamilies(_ snapshot: SocketSnapshot, top: Int) -> [MetricFamily] {
        var families: [MetricFamily] = []
        var sockets: [MetricSample] = []
        for proto in TransportProtocol.allCases {
            for family in AddressFamily.allCases {
                let counts = snapshot[proto, family]
                for state in exposedStates(proto) {
                    sockets.append(
                        MetricSample(
                            [
                                .init("proto", proto.description), .init("family", family.description),
                                .init("state", state.name),
                            ],
                            Double(counts[state])))
                }
            }
        }
        families.append(
            MetricFamily(
                name: "sockscan_sockets",
                help:
                    "Sockets of the namespace by protocol, address family and state (ss state names), from one sock_diag dump.",
                type: .gauge, samples: sockets))

        let stat = snapshot.sockstat
        let page = Double(snapshot.pageSize)
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_sockets_used",
                help:
                    "Sockets in use in the scanned network namespace, every protocol (/proc/net/sockstat sockets: used, sar totsck; per namespace since Linux 4.16).",
                type: .gauge, samples: [MetricSample([], Double(stat.socketsUsed))]))
        let inuse: [(String, String, UInt64)] = [
            ("tcp", "inet", stat.tcpInUse), ("tcp", "inet6", stat.tcp6InUse),
            ("udp", "inet", stat.udpInUse), ("udp", "inet6", stat.udp6InUse),
            ("udplite", "inet", stat.udpLiteInUse), ("udplite", "inet6", stat.udpLite6InUse),
            ("raw", "inet", stat.rawInUse), ("raw", "inet6", stat.raw6InUse),
        ]
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_sockets_inuse",
                help:
                    "Sockets in use in the namespace by protocol and family (/proc/net/sockstat and sockstat6 inuse).",
                type: .gauge,
                samples: inuse.map { MetricSample([.init("proto", $0.0), .init("family", $0.1)], Double($0.2)) }))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_tcp_time_wait_sockets",
                help:
                    "TCP sockets in TIME_WAIT in the namespace, both families (/proc/net/sockstat TCP tw, sar tcp-tw).",
                type: .gauge, samples: [MetricSample([], Double(stat.tcpTimeWait))]))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_tcp_orphan_sockets",
                help: "TCP sockets no longer attached to a file descriptor (/proc/net/sockstat TCP orphan).",
                type: .gauge, samples: [MetricSample([], Double(stat.tcpOrphan))]))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_tcp_allocated_sockets",
                help: "TCP sockets allocated, any state (/proc/net/sockstat TCP alloc).",
                type: .gauge, samples: [MetricSample([], Double(stat.tcpAllocated))]))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_memory_bytes",
                help:
                    "Memory the protocol's sockets hold on the host (/proc/net/sockstat mem, pages times the page size).",
                type: .gauge, unit: "bytes",
                samples: [
                    MetricSample([.init("proto", "tcp")], Double(stat.tcpMemoryPages) * page),
                    MetricSample([.init("proto", "udp")], Double(stat.udpMemoryPages) * page),
                ]))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_frag_queues",
                help: "IP fragment reassembly queues in use (/proc/net/sockstat FRAG inuse).",
                type: .gauge,
                samples: [
                    MetricSample([.init("family", "inet")], Double(stat.fragInUse)),
                    MetricSample([.init("family", "inet6")], Double(stat.frag6InUse)),
                ]))
        families.append(
            MetricFamily(
                name: "sockscan_sockstat_frag_memory_bytes",
                help: "Memory of IP fragment reassembly queues (/proc/net/sockstat FRAG memory).",
                type: .gauge, unit: "bytes",
                samples: [
                    MetricSample([.init("family", "inet")], Double(stat.fragMemory)),
                    MetricSample([.init("family", "inet6")], Double(stat.frag6Memory)),
                ]))

        families.append(
            MetricFamily(
                name: "sockscan_ephemeral_ports_capacity",
                help:
                    "Local ports connect() can use per destination (local address, remote address, remote port): ip_local_port_range minus reserved minus bound ports.",
                type: .gauge, samples: [MetricSample([], Double(snapshot.capacity))]))
        families.append(
            MetricFamily(
                name: "sockscan_port_utilization_ratio",
                help:
                    "Share of the ephemeral port capacity held by TCP sockets to one destination, every TIME_WAIT socket included, for the busiest destinations (sockscan ports USED / CAP).",
                type: .gauge, unit: "ratio",
                samples: snapshot.top.prefix(max(0, top)).map {
                    MetricSample(Self.destinationLabels($0.destination), $0.utilization)
                }))
        families.append(
            MetricFamily(
                name: "sockscan_port_blocked_ratio",
                help:
                    "Share of the ephemeral port capacity connect() cannot have for one destination: TIME_WAIT that tcp_tw_reuse lets it take over left out (sockscan ports UTIL and verdict). Alert on this one.",
                type: .gauge, unit: "ratio",
                samples: snapshot.top.prefix(max(0, top)).map {
                    MetricSample(Self.destinationLabels($0.destination), $0.effectiveUtilization)
                }))
        families.append(
            MetricFamily(
                name: "sockscan_closes_per_second_estimate",
                help:
                    "Connections to one destination that this side closed first, per second, estimated as its TIME_WAIT sockets over 60 s (TIME_WAIT lasts 60 s: the average over the last minute; low where tcp_tw_reuse takes TIME_WAIT sockets over), for the busiest destinations. sockscan serve counts every close: rate(sockscan_connections_closed_total).",
                type: .gauge,
                samples: snapshot.top.prefix(max(0, top)).map {
                    MetricSample(
                        Self.destinationLabels($0.destination),
                        Double($0.states[.timeWait]) / Double(PortReport.timeWaitSeconds))
                }))
        if let closes = snapshot.closes { families += closeFamilies(closes) }
        if top > 0 {
            families.append(
                MetricFamily(
                    name: "sockscan_port_destinations",
                    help: "Destinations (local address, remote address, remote port) holding ephemeral ports.",
                    type: .gauge, samples: [MetricSample([], Double(snapshot.destinations))]))
        }

        families.append(
            MetricFamily(
                name: "sockscan_scrape_duration_seconds",
                help: "How long reading the namespace took (dumps, sockstat, sysctls) for the values shown.",
                type: .gauge, unit: "seconds", samples: [MetricSample([], snapshot.duration)]))
        return families
    }
}
