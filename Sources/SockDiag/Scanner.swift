import CNetlink

#if canImport(Glibc)
    import Glibc
#endif

/// Optional per-socket information to ask the kernel for (`idiag_ext`). Each costs message size.
public struct ScanExtensions: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `tcp_info` (`INET_DIAG_INFO`): rtt, cwnd, retransmits, bytes… TCP only.
    public static let tcpInfo = ScanExtensions(rawValue: 1)
    /// Socket memory (`INET_DIAG_SKMEMINFO`), as `ss -m`.
    public static let memory = ScanExtensions(rawValue: 2)

    /// The kernel's `idiag_ext` bits: `1 << (INET_DIAG_x - 1)`.
    var kernelMask: UInt8 {
        var mask: UInt8 = 0
        if contains(.tcpInfo) { mask |= 1 << (UInt8(INET_DIAG_INFO) - 1) }
        if contains(.memory) { mask |= 1 << (UInt8(INET_DIAG_SKMEMINFO) - 1) }
        return mask
    }
}

/// What to scan: everything here is filtered inside the kernel.
public struct ScanQuery: Hashable, Sendable {
    /// Protocols to dump.
    public var protocols: ProtocolSet
    /// Address families to dump.
    public var families: FamilySet
    /// States to dump (`idiag_states`).
    public var states: StateSet
    /// Extra information per socket.
    public var extensions: ScanExtensions
    /// An exact local port (`id.idiag_sport`), the cheapest kernel filter.
    public var localPort: UInt16?
    /// An exact remote port (`id.idiag_dport`).
    public var remotePort: UInt16?
    /// An `INET_DIAG_REQ_BYTECODE` program the kernel runs on each socket; the kernel audits it and
    /// refuses a bad one with `EINVAL`.
    public var bytecode: [UInt8]?
    /// A filter in the `ss` language, compiled into the cheapest kernel program (``KernelProgram``): its
    /// states narrow ``states``, exact ports go to the request id, the rest to bytecode, and only what the
    /// kernel cannot test is evaluated here on what it returned.
    public var filter: Filter?
    /// The scanned namespace's `ip_local_port_range` when the caller has read it already, for a filter's
    /// `autobound`; `nil` reads it when needed.
    public var ephemeralPorts: ClosedRange<UInt16>?

    public init(
        protocols: ProtocolSet = .tcp, families: FamilySet = .all, states: StateSet = .all,
        extensions: ScanExtensions = [], localPort: UInt16? = nil, remotePort: UInt16? = nil,
        bytecode: [UInt8]? = nil, filter: Filter? = nil
    ) {
        self.protocols = protocols
        self.families = families
        self.states = states
        self.extensions = extensions
        self.localPort = localPort
        self.remotePort = remotePort
        self.bytecode = bytecode
        self.filter = filter
    }
}

/// How TCP is dumped when both families are asked for.
public enum TCPDumpStrategy: String, Sendable, Hashable, CaseIterable {
    /// The legacy `TCPDIAG_GETSOCK` request where the kernel serves it (one hash walk for IPv4 and IPv6),
    /// else one `SOCK_DIAG_BY_FAMILY` request per family.
    case automatic
    /// Always one `SOCK_DIAG_BY_FAMILY` request per family (two walks).
    case perFamily
    /// Only the legacy one-pass request; fails where the kernel does not serve it.
    case onePass
}

/// Where records came from.
public enum ScanSource: String, Sendable, Hashable {
    /// NETLINK_SOCK_DIAG.
    case netlink
    /// `/proc/net/*` text, because netlink was refused.
    case procfs
}

/// What a scan did: requests, bytes, and whether the kernel saw the table change mid-dump.
public struct ScanStatistics: Hashable, Sendable {
    /// Kernel dump requests sent.
    public var requests = 0
    /// Netlink datagrams received.
    public var batches = 0
    /// Bytes received.
    public var bytes = 0
    /// Records delivered.
    public var records = 0
    /// Whether any dump was flagged `NLM_F_DUMP_INTR`.
    ///
    /// inet_diag (as of Linux 6.18) never sets the flag: it resumes each batch by hash bucket and position,
    /// so under churn a socket can be missed or repeated without notice. Deduplicate by ``SocketRecord/cookie``
    /// where exact numbers matter. The flag is still honoured should a kernel set it.
    public var interrupted = false
    /// Whether TCP used the one-pass legacy request.
    public var usedOnePassTCP = false
    /// Protocols read from `/proc` instead of netlink.
    public var procfsFallback: ProtocolSet = []

    public init() {}
}

/// Streams sockets from the kernel through NETLINK_SOCK_DIAG, filtering inside the kernel.
///
/// One scanner owns one netlink socket and one 32 KiB receive buffer, reused by every scan. It is not
/// for concurrent use: give each thread its own, or serialise. Streaming with ``forEach(_:_:)`` allocates
/// nothing per socket.
///
/// The corresponding kernel requests are `SOCK_DIAG_BY_FAMILY` with `inet_diag_req_v2`, and, for TCP over
/// both families in one hash walk, `TCPDIAG_GETSOCK` with `inet_diag_req`.
public final class Scanner {
    /// The namespace scanned, `nil` for the caller's.
    public let namespace: NetworkNamespace?
    /// How TCP over both families is dumped.
    public var tcpStrategy: TCPDumpStrategy
    /// Where the records come from (`.procfs` when netlink was refused at open).
    public private(set) var source: ScanSource
    /// Receives one-line warnings (a fallback to `/proc`, an interrupted dump). Default: none.
    public var onWarning: ((String) -> Void)?

    /// Whether the kernel serves the one-pass legacy request: `nil` until tried.
    public private(set) var onePassSupported: Bool?

    private var socket: OpaquePointer?
    private var sequence: UInt32 = 0
    private let buffer: UnsafeMutableRawBufferPointer
    private let requestBuffer: UnsafeMutableRawBufferPointer
    private var procfsProtocols: ProtocolSet = []

    /// Opens a scanner on the caller's namespace, or on `namespace` (the netlink socket is opened on a
    /// thread inside it and stays there).
    ///
    /// - Parameters:
    ///   - namespace: the network namespace to scan.
    ///   - tcpStrategy: how TCP over both families is dumped.
    ///   - allowProcFallback: read `/proc/net` when the kernel refuses sock_diag (`EPERM`, `EAFNOSUPPORT`,
    ///     `EPROTONOSUPPORT`), with a warning; otherwise throw.
    /// - Throws: ``NetlinkError`` when the socket cannot be opened and no fallback is allowed,
    ///   ``NamespaceError`` when the namespace cannot be entered.
    public init(
        namespace: NetworkNamespace? = nil, tcpStrategy: TCPDumpStrategy = .automatic, allowProcFallback: Bool = true,
        onWarning: ((String) -> Void)? = nil
    ) throws {
        self.namespace = namespace
        self.tcpStrategy = tcpStrategy
        self.onWarning = onWarning
        buffer = .allocate(byteCount: Int(CNL_DUMP_BUFFER_SIZE), alignment: 16)
        requestBuffer = .allocate(byteCount: Int(CNL_REQUEST_BUFFER_SIZE), alignment: 16)
        source = .netlink
        do {
            _ = try openSocket()
        } catch let error as NetlinkError where allowProcFallback && error.isRefusal {
            source = .procfs
            procfsProtocols = .all
            onWarning?("warning: \(error); reading /proc/net instead (slower, no cookies or tcp_info)")
        } catch {
            // Every stored property is set by now, so the throw runs deinit, which frees the buffers:
            // freeing them here too was a double free (seen when setns is refused to a non-root user).
            throw error
        }
    }

    deinit {
        if let socket { cnl_sock_diag_close(socket) }
        buffer.deallocate()
        requestBuffer.deallocate()
    }

    /// Reads `/proc/net` from now on, as if sock_diag had been refused (for comparison runs).
    public func forceProcfs() {
        procfsProtocols = .all
        source = .procfs
    }

    /// Opens a socket and returns it as an integer so it can cross threads.
    private static func open() throws -> UInt {
        guard let nl = cnl_sock_diag_open() else {
            throw NetlinkError(errno: errno, operation: "socket NETLINK_SOCK_DIAG")
        }
        return UInt(bitPattern: nl)
    }

    /// Calls `body` with each socket that matches `query`, as the kernel returns them.
    ///
    /// TCP comes first, then UDP; within a protocol, the kernel's hash order (listeners first).
    /// - Returns: what the scan did.
    /// - Throws: ``NetlinkError`` for a kernel error (`EINVAL` for a bytecode program the kernel
    ///   refused), ``DumpParseError`` for a malformed reply, ``ProcNetError`` on the `/proc` path, or
    ///   what `body` throws (the rest of the dump is then drained).
    @discardableResult
    public func forEach(_ query: ScanQuery, _ body: (SocketRecord) throws -> Void) throws -> ScanStatistics {
        try run(query, RecordSink.self) { _, record in try body(record) }
    }

    /// ``forEach(_:_:)`` handing over what `sink` makes of each socket (the record, or only its state) and
    /// the protocol dumped.
    private func run<Sink: SocketSink>(
        _ query: ScanQuery, _ sink: Sink.Type, _ body: (TransportProtocol, Sink.Item) throws -> Void
    ) throws -> ScanStatistics {
        var stats = ScanStatistics()
        let plan = try plan(query)
        guard let request = plan.request else { return stats }  // contradictory ports: nothing can match
        if query.protocols.contains(.tcp) {
            try scan(.tcp, request, plan, &stats, sink) { try body(.tcp, $0) }
        }
        if query.protocols.contains(.udp) {
            try scan(.udp, request, plan, &stats, sink) { try body(.udp, $0) }
        }
        if stats.interrupted {
            onWarning?(
                "warning: the socket table changed during the dump (NLM_F_DUMP_INTR); a socket may be missing or repeated"
            )
        }
        return stats
    }

    /// A query made ready to send: its filter compiled and merged in.
    struct Plan {
        /// What goes to the kernel; `nil` when nothing can match.
        var request: ScanQuery?
        /// What user space tests on each socket the kernel returned.
        var remainder: FilterExpression?
        /// The whole filter, for the /proc path (which the kernel does not filter).
        var filter: FilterExpression?
    }

    /// Compiles the query's filter (devices looked up in the scanned namespace) into the request.
    func plan(_ query: ScanQuery) throws -> Plan {
        guard let given = query.filter else { return Plan(request: query) }
        let filter = try resolved(given)  // device names looked up once, in the namespace
        let program = try compile(filter, baseStates: query.states, ephemeralPorts: query.ephemeralPorts)
        var request = query
        request.filter = nil
        request.states = program.states
        if let port = program.localPort {
            if let given = query.localPort, given != port { return Plan(request: nil) }
            request.localPort = port
        }
        if let port = program.remotePort {
            if let given = query.remotePort, given != port { return Plan(request: nil) }
            request.remotePort = port
        }
        if !program.bytecode.isEmpty {
            if query.bytecode != nil {
                throw NetlinkError(
                    errno: EINVAL, operation: "filter: a query takes either bytecode or a filter, not both")
            }
            request.bytecode = program.bytecode
        }
        return Plan(request: request, remainder: program.remainder, filter: filter.expression)
    }

    /// The kernel program for `filter` in this scanner's namespace (what `--explain` prints).
    ///
    /// - Throws: ``FilterCompileError``.
    public func kernelProgram(for filter: Filter, baseStates: StateSet = .all) throws -> KernelProgram {
        try compile(resolved(filter), baseStates: baseStates, ephemeralPorts: nil)
    }

    /// Compiles a filter whose devices are resolved. The port range is read (in the namespace) only for
    /// `autobound`, the one condition that needs it, and only when the caller did not give it.
    private func compile(
        _ resolved: Filter, baseStates: StateSet, ephemeralPorts known: ClosedRange<UInt16>?
    ) throws -> KernelProgram {
        let range =
            resolved.expression.evaluableInUserSpace ? KernelProgram.defaultEphemeralPorts : known ?? ephemeralPorts()
        return try KernelProgram(resolved, baseStates: baseStates, ephemeralPorts: range)
    }

    /// The scanned namespace's `net.ipv4.ip_local_port_range` (the default 32768–60999 if unreadable).
    public func ephemeralPorts() -> ClosedRange<UInt16> {
        let read: @Sendable () -> String? = { try? ProcFile.read("/proc/sys/net/ipv4/ip_local_port_range") }
        let text = namespace.map { (try? $0.run(read)) ?? nil } ?? read()
        let words = (text ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard words.count == 2, let low = UInt16(words[0]), let high = UInt16(words[1]), low <= high else {
            return KernelProgram.defaultEphemeralPorts
        }
        return low...high
    }

    private func resolved(_ filter: Filter) throws -> Filter {
        try Self.resolvingDevices(filter, in: namespace)
    }

    /// `filter` with every `dev NAME` replaced by its index in `namespace` (the caller's when nil), and
    /// every `dev INDEX` checked to exist there.
    ///
    /// - Throws: ``FilterCompileError/unknownDevice(_:)`` for a device the namespace does not have;
    ///   ``NamespaceError`` when the namespace cannot be entered.
    public static func resolvingDevices(_ filter: Filter, in namespace: NetworkNamespace?) throws -> Filter {
        guard filter.expression.mentionsDevice else { return filter }
        let expression = filter.expression
        let lookUp: @Sendable () -> Result<FilterExpression, FilterCompileError> = {
            Result { () throws(FilterCompileError) in
                try expression.resolvingDevices(
                    { name in
                        let index = if_nametoindex(name)
                        return index == 0 ? nil : index
                    },
                    exists: { localInterfaceName($0) != nil })
            }
        }
        return Filter(try (namespace.map { try $0.run(lookUp) } ?? lookUp()).get())
    }

    /// An interface name by index, in the scanned namespace (`if_indextoname`).
    public func interfaceName(_ index: UInt32) -> String? {
        guard let namespace else { return Self.localInterfaceName(index) }
        return (try? namespace.run { Self.localInterfaceName(index) }) ?? nil
    }

    /// An interface name by index in the calling thread's namespace.
    @Sendable public static func localInterfaceName(_ index: UInt32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buffer) != nil else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An interface index by name, in the scanned namespace (`if_nametoindex`).
    public func resolveDevice(_ name: String) -> UInt32? {
        let lookup: @Sendable () -> UInt32 = { if_nametoindex(name) }
        let index: UInt32
        if let namespace {
            index = (try? namespace.run(lookup)) ?? 0
        } else {
            index = lookup()
        }
        return index == 0 ? nil : index
    }

    /// Returns every socket that matches `query`.
    public func records(_ query: ScanQuery) throws -> [SocketRecord] {
        var result: [SocketRecord] = []
        try forEach(query) { result.append($0) }
        return result
    }

    /// Counts the sockets that match `query`, per state.
    ///
    /// Where no part of the filter is left to user space, only each message's state is read (after the
    /// same checks as a full parse): no record is built.
    public func count(_ query: ScanQuery) throws -> StateCounts {
        var counts = StateCounts()
        try run(query, StateSink.self) { _, state in counts.add(state) }
        return counts
    }

    /// Counts the sockets that match `query`, per state, TCP and UDP apart (unconnected UDP sockets are in
    /// state close, which TCP has too): one scan, each message's state read without building a record.
    public func countPerProtocol(_ query: ScanQuery) throws -> (tcp: StateCounts, udp: StateCounts) {
        var tcp = StateCounts()
        var udp = StateCounts()
        try run(query, StateSink.self) { proto, state in
            if proto == .tcp { tcp.add(state) } else { udp.add(state) }
        }
        return (tcp, udp)
    }

    private func scan<Sink: SocketSink>(
        _ proto: TransportProtocol, _ query: ScanQuery, _ plan: Plan, _ stats: inout ScanStatistics,
        _ sink: Sink.Type, _ body: (Sink.Item) throws -> Void
    ) throws {
        if procfsProtocols.contains(proto) {
            try scanProcfs(proto, query, plan, &stats) { try body(Sink.item($0)) }
            return
        }
        var families: [AddressFamily] = AddressFamily.allCases.filter { query.families.contains($0) }
        let before = stats.records  // this protocol's records so far: none, or a fallback would repeat them
        var onePassRefusal: NetlinkError? = nil
        if proto == .tcp && families.count == 2 && tcpStrategy != .perFamily && onePassSupported != false {
            do {
                try dump(.tcp, family: nil, query, plan.remainder, &stats, sink, body)
                onePassSupported = true
                stats.usedOnePassTCP = true
                return
            } catch let error as NetlinkError
                where tcpStrategy == .automatic && onePassSupported == nil
                && [EINVAL, EOPNOTSUPP, ENOENT, EPROTONOSUPPORT].contains(error.errno) && stats.records == before
            {
                // An older or stricter kernel, or (with bytecode) a program the auditor refused: the
                // per-family requests below tell which.
                if query.bytecode == nil { onePassSupported = false } else { onePassRefusal = error }
            }
        }
        if proto == .tcp && families.count == 2 && tcpStrategy == .onePass {
            throw NetlinkError(errno: EOPNOTSUPP, operation: "one-pass TCPDIAG_GETSOCK dump")
        }
        for family in families {
            do {
                try dump(proto, family: family, query, plan.remainder, &stats, sink, body)
            } catch let error as NetlinkError
                where error.errno == ENOENT && stats.records == before && onePassRefusal == nil
            {
                // The protocol's diag module is missing (tcp_diag, udp_diag): /proc still has the sockets.
                procfsProtocols.insert(proto == .tcp ? .tcp : .udp)
                onWarning?("warning: \(error); reading /proc/net/\(proto) instead")
                families = []
                try scanProcfs(proto, query, plan, &stats) { try body(Sink.item($0)) }
                return
            }
        }
        // Per family worked where the one-pass request was refused: the kernel does not serve it.
        if onePassRefusal != nil { onePassSupported = false }
    }

    /// Writes the dump request for `proto` and `query` into `buffer` without sending it.
    ///
    /// `dump` sends exactly these bytes; the hook lets unit tests check that a query's states, ports,
    /// extensions and bytecode reach the kernel's request fields, with no socket.
    /// The corresponding kernel request is `SOCK_DIAG_BY_FAMILY` with `inet_diag_req_v2`, or, with `family`
    /// `nil`, the one-pass `TCPDIAG_GETSOCK` with `inet_diag_req`.
    /// - Returns: the request length, or `-errno` from `cnl_inet_diag_request_build`.
    static func buildRequest(
        _ proto: TransportProtocol, family: AddressFamily?, _ query: ScanQuery, sequence: UInt32,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> Int32 {
        let bytecode = query.bytecode ?? []
        return bytecode.withUnsafeBytes { code -> Int32 in
            var request = cnl_inet_diag_request()
            request.kind = family == nil ? CNL_REQUEST_LEGACY_TCP : CNL_REQUEST_V2
            request.family = family?.rawValue ?? UInt8(AF_INET)
            request.protocol = proto.rawValue
            request.ext = query.extensions.kernelMask
            request.states = query.states.rawValue
            request.sport = query.localPort ?? 0
            request.dport = query.remotePort ?? 0
            request.bytecode = code.baseAddress
            request.bytecode_len = UInt32(code.count)
            return cnl_inet_diag_request_build(buffer.baseAddress, buffer.count, &request, sequence)
        }
    }

    private func dump<Sink: SocketSink>(
        _ proto: TransportProtocol, family: AddressFamily?, _ query: ScanQuery, _ remainder: FilterExpression?,
        _ stats: inout ScanStatistics, _ sink: Sink.Type, _ body: (Sink.Item) throws -> Void
    ) throws {
        let socket = try openSocket()
        sequence &+= 1
        let seq = sequence
        let length = Self.buildRequest(proto, family: family, query, sequence: seq, into: requestBuffer)
        let operation =
            "dump \(proto) \(family?.description ?? "inet+inet6")\(query.bytecode == nil ? "" : " with filter bytecode")"
        if length < 0 { throw NetlinkError(errno: -length, operation: operation) }
        let sent = cnl_sock_diag_send(socket, requestBuffer.baseAddress, Int(length))
        if sent < 0 { throw NetlinkError(errno: -sent, operation: operation) }
        stats.requests += 1
        var d = cnl_dump()
        cnl_dump_begin(&d, socket, seq, buffer.baseAddress, buffer.count)
        var delivered = 0
        var bodyThrew = false
        do {
            let result: InetDiagDump.WalkResult
            if let remainder {
                // User space tests the rest of the filter on whole records.
                result = try InetDiagDump.walk(&d, proto: proto, operation: operation) { record in
                    if !remainder.matches(record) { return }
                    delivered += 1
                    do {
                        try body(Sink.item(record))
                    } catch {
                        bodyThrew = true
                        throw error
                    }
                }
            } else {
                result = try InetDiagDump.walk(&d, proto: proto, operation: operation, parse: Sink.parse) { item in
                    delivered += 1
                    do {
                        try body(item)
                    } catch {
                        bodyThrew = true
                        throw error
                    }
                }
            }
            stats.batches += result.batches
            stats.bytes += result.bytes
            stats.interrupted = stats.interrupted || result.interrupted
            stats.records += delivered
        } catch {
            stats.records += delivered
            if bodyThrew {
                drain(&d)  // the kernel is still sending this dump: read it to its end
            } else if d.flags & UInt32(CNL_DUMP_F_ENDED) == 0 {
                // A receive error or a malformed reply: the kernel may still be sending, so the socket is
                // out of step. Close it; the next scan opens a new one.
                closeSocket()
            }
            throw error
        }
    }

    /// The netlink socket, opened again (in the namespace) after an earlier one was closed out of step.
    private func openSocket() throws -> OpaquePointer {
        if let socket { return socket }
        let opened: UInt
        if let namespace {
            opened = try namespace.run { try Self.open() }
        } else {
            opened = try Self.open()
        }
        let socket = OpaquePointer(bitPattern: opened)!
        self.socket = socket
        return socket
    }

    /// Sends a dump request and reads none of its reply, leaving the socket out of step as a dump abandoned
    /// by a failed receive would (tests only).
    func queueStrayDumpForTesting() throws {
        let socket = try openSocket()
        sequence &+= 1
        let length = Self.buildRequest(.tcp, family: .inet, ScanQuery(), sequence: sequence, into: requestBuffer)
        _ = cnl_sock_diag_send(socket, requestBuffer.baseAddress, Int(length))
    }

    private func closeSocket() {
        if let socket { cnl_sock_diag_close(socket) }
        socket = nil
    }

    /// Reads the rest of an abandoned dump so the next request starts clean; closes the socket when that fails.
    private func drain(_ d: inout cnl_dump) {
        var payload: UnsafeRawPointer?
        var length: UInt32 = 0
        var type: UInt16 = 0
        var steps = 0
        while d.flags & UInt32(CNL_DUMP_F_DONE) == 0 && steps < 10_000_000 {
            if cnl_dump_next(&d, &payload, &length, &type) != 1 { break }
            steps += 1
        }
        if d.flags & UInt32(CNL_DUMP_F_ENDED) == 0 {
            // The dump did not end cleanly: the stream may be out of step, never reuse it.
            closeSocket()
        }
    }

    private func scanProcfs(
        _ proto: TransportProtocol, _ query: ScanQuery, _ plan: Plan, _ stats: inout ScanStatistics,
        _ body: (SocketRecord) throws -> Void
    ) throws {
        if let filter = plan.filter {
            guard filter.evaluableInUserSpace else {
                throw NetlinkError(
                    errno: EOPNOTSUPP, operation: "'autobound' on the /proc path (only sock_diag can test it)")
            }
        } else if query.bytecode != nil {
            throw NetlinkError(errno: EOPNOTSUPP, operation: "filter bytecode on the /proc path (needs sock_diag)")
        }
        let filter = plan.filter
        stats.procfsFallback.insert(proto == .tcp ? .tcp : .udp)
        let families = AddressFamily.allCases.filter { query.families.contains($0) }
        let work: @Sendable () throws -> [SocketRecord]
        let directory = namespace == nil ? "/proc/net" : "/proc/thread-self/net"
        let states = query.states
        let lport = query.localPort
        let rport = query.remotePort
        @Sendable func matches(_ r: SocketRecord) -> Bool {
            (lport == nil || r.local.port == lport) && (rport == nil || r.remote.port == rport)
                && (filter == nil || filter!.matches(r))
        }
        if let namespace {
            // /proc/thread-self/net shows the namespace of the reading thread, so read there.
            work = {
                var all: [SocketRecord] = []
                let reader = ProcNetReader(directory: directory)
                for family in families {
                    try reader.forEach(proto, family, states: states) { if matches($0) { all.append($0) } }
                }
                return all
            }
            for record in try namespace.run(work) {
                stats.records += 1
                try body(record)
            }
        } else {
            let reader = ProcNetReader(directory: directory)
            for family in families {
                try reader.forEach(proto, family, states: states) { record in
                    if matches(record) {
                        stats.records += 1
                        try body(record)
                    }
                }
            }
        }
    }
}

/// What a scan hands over for each socket: the whole record, or (counting) only its state.
protocol SocketSink {
    associatedtype Item
    /// Checks and parses one `inet_diag_msg` payload; `nil` skips it (a family other than inet/inet6).
    static func parse(
        _ payload: UnsafeRawBufferPointer, _ proto: TransportProtocol, _ offset: Int
    ) throws(DumpParseError) -> Item?
    /// The item for a record built in user space (the /proc path, a filter's user-space remainder).
    static func item(_ record: SocketRecord) -> Item
}

/// Whole records (``Scanner/forEach(_:_:)``).
enum RecordSink: SocketSink {
    @inline(__always)
    static func parse(
        _ payload: UnsafeRawBufferPointer, _ proto: TransportProtocol, _ offset: Int
    ) throws(DumpParseError) -> SocketRecord? {
        try InetDiagDump.parseMessage(payload, proto: proto, offset: offset)
    }
    @inline(__always)
    static func item(_ record: SocketRecord) -> SocketRecord { record }
}

/// States only (``Scanner/count(_:)``).
enum StateSink: SocketSink {
    @inline(__always)
    static func parse(
        _ payload: UnsafeRawBufferPointer, _ proto: TransportProtocol, _ offset: Int
    ) throws(DumpParseError) -> TCPState? {
        try InetDiagDump.messageState(payload, offset: offset)
    }
    @inline(__always)
    static func item(_ record: SocketRecord) -> TCPState { record.state }
}
