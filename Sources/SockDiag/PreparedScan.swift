/// A query made ready to run: what the kernel is asked and what user space tests, worked out once.
///
/// ``Scanner/prepare(_:)`` makes one: the filter's `dev` names are looked up in the scanned namespace, the
/// filter is compiled into the cheapest kernel program (``KernelProgram``: states, request ports, bytecode)
/// and what only user space can test is kept as ``remainder``. Counting, listing and `--explain` all read the
/// same value, so they cannot disagree, and a scan run many times (a sampler, an exporter) is prepared once.
public struct PreparedScan: Hashable, Sendable {
    /// The query as given.
    public let query: ScanQuery
    /// The filter with every `dev NAME` resolved to its index in the scanned namespace; `nil` for none.
    public let filter: Filter?
    /// The kernel program: states, request ports, bytecode and the user-space remainder.
    public let program: KernelProgram
    /// Where the scan reads: `.procfs` when the scanner reads `/proc/net` (the kernel then filters nothing).
    public let source: ScanSource
    /// What goes to the kernel; `nil` when nothing can match (the filter's exact port contradicts the
    /// query's).
    let request: ScanQuery?
    /// Why the `/proc` path (which a scanner falls back to) cannot run this scan; `nil` when it can.
    let procfsRefusal: String?

    /// The states a matching socket can be in: the query's selection (or all of them, when the filter names
    /// states), narrowed by the filter. Exactly the states the kernel is asked for.
    public var states: StateSet { program.states }

    /// What user space tests on each socket the kernel returned; `nil` when the kernel does all the filtering.
    public var remainder: FilterExpression? { program.remainder }

    /// Whether the scan can match nothing, whatever the sockets (contradictory exact ports).
    public var matchesNothing: Bool { request == nil }

    /// Whether the `/proc` path could run this scan (it cannot test `autobound`, `dev` or raw bytecode).
    var procfsCapable: Bool { procfsRefusal == nil }

    /// Prepares `query` for a scanner of `namespace` that reads `procfsProtocols` from `/proc`.
    ///
    /// - Throws: ``SockDiagError``, ``FilterCompileError``, ``NamespaceError`` or ``ProcNetError`` (the
    ///   scanner wraps them).
    init(_ query: ScanQuery, namespace: NetworkNamespace?, procfsProtocols: ProtocolSet) throws {
        self.query = query
        source = procfsProtocols.isEmpty ? .netlink : .procfs
        let readsProcfs = !procfsProtocols.intersection(query.protocols).isEmpty
        if query.filter != nil && query.bytecode != nil {
            throw SockDiagError.invalidQuery("a query takes either bytecode or a filter, not both")
        }
        guard let given = query.filter else {
            filter = nil
            program = try KernelProgram(nil, baseStates: query.states)
            request = query
            procfsRefusal =
                query.bytecode == nil ? nil : "filter bytecode cannot run on the /proc path (it needs sock_diag)"
            if readsProcfs, let reason = procfsRefusal { throw SockDiagError.unsupported(reason) }
            return
        }
        let expression = given.expression
        if !expression.evaluableInUserSpace {
            procfsRefusal = "'autobound' cannot be tested on the /proc path (only sock_diag can test it)"
        } else if expression.mentionsDevice {
            procfsRefusal =
                "'dev' cannot be tested on the /proc path (/proc/net does not show a socket's device; only sock_diag can test it)"
        } else {
            procfsRefusal = nil
        }
        if readsProcfs, let reason = procfsRefusal { throw SockDiagError.unsupported(reason) }
        let resolved = try NetworkDevices.resolving(given, in: namespace)  // one namespace thread for all devices
        filter = resolved
        // The port range matters only to `autobound`, the one condition that needs the kernel: read it then,
        // unless the caller read it already.
        let ports =
            expression.evaluableInUserSpace
            ? PortRange.kernelDefault
            : query.ephemeralPorts ?? (try? PortRange.ephemeral(in: namespace)) ?? .kernelDefault
        // A filter that names states starts from all of them, as in ss.
        let base = expression.mentionsState ? StateSet.all : query.states
        program = try KernelProgram(resolved, baseStates: base, ephemeralPorts: ports)
        var request = query
        request.filter = nil
        request.states = program.states
        var contradictory = false
        if let port = program.localPort {
            if let given = query.localPort, given != port { contradictory = true }
            request.localPort = port
        }
        if let port = program.remotePort {
            if let given = query.remotePort, given != port { contradictory = true }
            request.remotePort = port
        }
        if !program.bytecode.isEmpty { request.bytecode = program.bytecode }
        self.request = contradictory ? nil : request
    }

    /// What `--explain` prints: the filter as parsed, the protocols and families, then what the kernel is
    /// asked (state mask, request ports, each bytecode op) and what user space tests.
    public var explanation: String {
        var text = "filter: \(query.filter.map { $0.description } ?? "none")\n"
        let protocols = [ProtocolSet.tcp, .udp].filter { query.protocols.contains($0) }.map {
            $0 == .tcp ? "tcp" : "udp"
        }
        let families = AddressFamily.allCases.filter { query.families.contains($0) }.map(\.description)
        text += "protocols: \(protocols.joined(separator: " "))  families: \(families.joined(separator: " "))\n"
        guard source == .netlink else {
            // /proc/net text is not filtered by the kernel: every line is read and tested here.
            text += "kernel: nothing (reading /proc/net text, which the kernel does not filter)\n"
            text += "user space: every line, kept when\n"
            text += "  state in \(program.states)\n"
            if let port = query.localPort { text += "  sport = :\(port)\n" }
            if let port = query.remotePort { text += "  dport = :\(port)\n" }
            text += "  filter matches: \(filter.map { $0.expression.description } ?? "(no filter)")"
            return text
        }
        return text + program.explanation
    }
}
