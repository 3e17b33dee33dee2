import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Which destination is running out of ephemeral ports, and why.
///
/// `connect()` on an unbound socket picks a local port from `ip_local_port_range`, skipping reserved ports
/// and ports some socket holds by `bind()`, and accepts a port as long as the 4-tuple (local address, local
/// port, remote address, remote port) is unique, TIME_WAIT sockets included. So each destination (local
/// address, remote address, remote port) can use `range - reserved - bound` ports, and fails with
/// `EADDRNOTAVAIL` when its own sockets hold them all, however idle the rest of the range is.
public enum PortExhaustion {
    /// `TCP_BOUND_INACTIVE` (Linux 6.5+): a TCP socket bound but neither listening nor connected. Asking for
    /// it makes the kernel walk the bind hash for such sockets; older kernels ignore the bit.
    public static let boundInactive = TCPState(rawValue: 13)

    /// The TCP listeners on a port inside `range`. With no state but listen asked, the kernel skips the
    /// established hash (`inet_diag_dump_icsk`), so this dump costs the listening hash alone.
    public static func bindingQuery(range: PortRange) -> ScanQuery {
        ScanQuery(protocols: .tcp, families: .all, states: StateSet(.listen), filter: localPortFilter(range))
    }

    /// Connected TCP sockets on a port inside `range` that was bound explicitly (`bind()` before `connect()`):
    /// such a port is taken from every destination, as a listener's is. The kernel tells them apart
    /// (`INET_DIAG_BC_AUTO` fails for a socket whose port was bound); TIME_WAIT sockets carry no bind flags and
    /// are not found this way.
    public static func explicitlyBoundQuery(range: PortRange) -> ScanQuery {
        var query = ScanQuery(
            protocols: .tcp, families: .all, states: StateSet.connected.subtracting(StateSet(.timeWait)),
            filter: Filter(localPortFilter(range).expression && !.autobound))
        query.ephemeralPorts = range  // already read: autobound needs no second read
        return query
    }

    /// The connected TCP sockets on a port inside `range` (every state but listen and close, TIME_WAIT
    /// included), and the bound-but-idle ones (`TCP_BOUND_INACTIVE`, Linux 6.5+; older kernels ignore the
    /// bit). They share one dump because asking for any state but listen walks the whole established hash.
    public static func connectionQuery(range: PortRange) -> ScanQuery {
        var states = StateSet.connected
        states.insert(boundInactive)
        return ScanQuery(protocols: .tcp, families: .all, states: states, filter: localPortFilter(range))
    }

    /// The UDP sockets on a port inside `range` (connected or not: each holds its port).
    public static func udpQuery(range: PortRange) -> ScanQuery {
        ScanQuery(protocols: .udp, families: .all, states: .all, filter: localPortFilter(range))
    }

    /// `sport >= low and sport <= high`: the scanner compiles it to `INET_DIAG_BC_S_GE` / `INET_DIAG_BC_S_LE`
    /// bytecode, so sockets outside the range are never copied out (on the `/proc` fallback it is applied in
    /// user space). ``PortUsage`` checks the range as well, so the result never depends on the filter.
    public static func localPortFilter(_ range: PortRange) -> Filter {
        Filter(.sport(.greaterOrEqual, range.low) && .sport(.lessOrEqual, range.high))
    }

    /// Scans the scanner's namespace and analyses it: the one port analysis of `sockscan ports`, metrics and
    /// history.
    ///
    /// The sockets that hold ports whatever the destination come first (the order matters: see ``PortUsage``):
    /// by default two dumps, TCP bindings (no established-hash walk) and UDP; a caller that scans every socket
    /// anyway (metrics) feeds them from its own dump with `holders`. Then the connected TCP sockets on
    /// explicitly bound ports, and, with `connections`, the connected TCP sockets. Every dump is filtered in the
    /// kernel by state and local port range, and each socket is folded into a ``PortUsage`` as it arrives. On
    /// the `/proc` fallback, which cannot tell an explicit bind, that dump is skipped.
    /// - Parameters:
    ///   - scanner: the scanner, opened on the namespace to analyse.
    ///   - settings: the namespace's sysctls; read from the scanner's namespace when `nil`.
    ///   - thresholds: for the verdict.
    ///   - maxDestinations: the memory cap on destinations kept apart.
    ///   - connections: whether to dump the connections (without, the report has the capacity and no
    ///     destination).
    ///   - holders: feeds the port holders (``PortUsage/addHolder(_:)``) instead of the two default dumps, and
    ///     returns the kernel requests it made.
    ///   - connection: folds each socket of the connection dump into the usage instead of ``PortUsage/add(_:)``
    ///     (which it should call): for a caller that keeps more of each socket than the analysis does (`churn`
    ///     reads the TIME_WAIT sockets from the same dump).
    /// - Returns: the report, whose ``PortReport/requests`` counts the dump requests (the holders' included).
    /// - Throws: ``PortSettingsError``, ``NamespaceError``, or what the scanner (or `holders`) throws.
    public static func analyze(
        scanner: Scanner, settings: PortSettings? = nil, thresholds: PortThresholds = PortThresholds(),
        maxDestinations: Int = 50_000, connections: Bool = true,
        holders: ((inout PortUsage) throws -> Int)? = nil,
        connection: ((inout PortUsage, SocketRecord) -> Void)? = nil
    ) throws -> PortReport {
        let settings = try settings ?? PortSettings.read(namespace: scanner.namespace)
        var usage = PortUsage(settings: settings, maxDestinations: maxDestinations)
        var requests = 0
        if let holders {
            requests += try holders(&usage)
        } else {
            requests += try scanner.forEach(bindingQuery(range: settings.range)) { usage.addBinding($0) }.requests
            requests += try scanner.forEach(udpQuery(range: settings.range)) { usage.addUDP($0) }.requests
        }
        requests += try addExplicitBindings(scanner: scanner, range: settings.range, into: &usage)
        if connections {
            requests += try scanner.forEach(connectionQuery(range: settings.range)) { record in
                if let connection { connection(&usage, record) } else { usage.add(record) }
            }.requests
        }
        var report = usage.report(thresholds: thresholds)
        report.requests = requests
        return report
    }

    /// Adds to `usage` the connected sockets whose port was bound explicitly (``explicitlyBoundQuery(range:)``).
    ///
    /// On the `/proc` path, which cannot tell them apart (`autobound` needs sock_diag), it adds nothing.
    /// - Returns: the kernel requests made.
    @discardableResult
    public static func addExplicitBindings(scanner: Scanner, range: PortRange, into usage: inout PortUsage) throws
        -> Int
    {
        do {
            return try scanner.forEach(explicitlyBoundQuery(range: range)) { usage.addBinding($0) }.requests
        } catch SockDiagError.unsupported {
            return 0  // the /proc path cannot test autobound
        }
    }
}
