internal import CNetlink
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Streams sockets from the kernel through NETLINK_SOCK_DIAG, filtering inside the kernel.
///
/// One scanner owns one netlink socket and one 32 KiB receive buffer, reused by every scan. Scans on one
/// scanner run one at a time: a scan started while another runs waits for it (so a scanner may be shared
/// between threads), and a scan started from inside another scan's closure on the same thread fails with
/// ``SockDiagError/invalidQuery(_:)`` instead of deadlocking. Streaming with `forEach(_:_:)` allocates
/// nothing per socket; the `async` methods (`count(_:)`, `sockets(_:)`) run the dump on a
/// thread of their own, never on a Swift Concurrency pool thread.
///
/// Every query goes through ``prepare(_:)``, which works out once what the kernel is asked and what is left
/// to user space (a ``PreparedScan``); the methods taking a ``ScanQuery`` prepare it themselves.
///
/// The corresponding kernel requests are `SOCK_DIAG_BY_FAMILY` with `inet_diag_req_v2`, and, for TCP over
/// both families in one hash walk, `TCPDIAG_GETSOCK` with `inet_diag_req`.
public final class Scanner: @unchecked Sendable {
    /// The namespace scanned, `nil` for the caller's.
    public let namespace: NetworkNamespace?
    /// How TCP over both families is dumped.
    public let tcpStrategy: TCPDumpStrategy
    /// Where warnings go: a fallback to `/proc`, a diag module missing (level `warning`).
    public let logger: Logger

    /// Where the records come from: `.procfs` when netlink was refused at open or ``ScanSource/procfs`` was
    /// asked for.
    public var source: ScanSource { info.withLock { $0.procfsProtocols == .all ? .procfs : .netlink } }

    /// Whether the kernel serves the one-pass legacy request: `nil` until tried.
    public var onePassSupported: Bool? { info.withLock { $0.onePassSupported } }

    /// The netlink socket and its sequence numbers, held by one scan at a time.
    struct State {
        var socket: OpaquePointer?
        var sequence: UInt32 = 0
    }

    /// What scans learn about the kernel, read and written briefly (never across a caller's closure).
    struct Info {
        /// Protocols read from `/proc/net` (all of them when netlink was refused or not wanted).
        var procfsProtocols: ProtocolSet = []
        var onePassSupported: Bool?
    }

    let state: ScanLock<State>
    private let info = Mutex(Info())
    let buffer: UnsafeMutableRawBufferPointer
    let requestBuffer: UnsafeMutableRawBufferPointer

    /// Opens a scanner on the caller's namespace, or on `namespace` (the netlink socket is opened on a
    /// thread inside it and stays there).
    ///
    /// - Parameters:
    ///   - namespace: the network namespace to scan.
    ///   - source: `.netlink` (the default) or `.procfs` to read `/proc/net` text instead (for comparison).
    ///   - tcpStrategy: how TCP over both families is dumped.
    ///   - allowProcFallback: read `/proc/net` when the kernel refuses sock_diag (`EPERM`, `EAFNOSUPPORT`,
    ///     `EPROTONOSUPPORT`), with a warning; otherwise throw.
    ///   - logger: where warnings go.
    /// - Throws: ``SockDiagError/kernel(_:)`` when the socket cannot be opened and no fallback is allowed,
    ///   ``SockDiagError/namespace(_:)`` when the namespace cannot be entered.
    public init(
        namespace: NetworkNamespace? = nil, source: ScanSource = .netlink, tcpStrategy: TCPDumpStrategy = .automatic,
        allowProcFallback: Bool = true, logger: Logger = Logger(label: "sockscan.sockdiag")
    ) throws(SockDiagError) {
        self.namespace = namespace
        self.tcpStrategy = tcpStrategy
        self.logger = logger
        buffer = .allocate(byteCount: Int(CNL_DUMP_BUFFER_SIZE), alignment: 16)
        requestBuffer = .allocate(byteCount: Int(CNL_REQUEST_BUFFER_SIZE), alignment: 16)
        state = ScanLock(State())
        if source == .procfs {
            info.withLock { $0.procfsProtocols = .all }
            return
        }
        do {
            state.unsafeValue.socket = try Self.open(in: namespace)
        } catch .kernel(let error) where allowProcFallback && error.isRefusal {
            info.withLock { $0.procfsProtocols = .all }
            logger.warning("\(error); reading /proc/net instead (slower, no cookies or tcp_info)")
        }
        // Every stored property is set before the throw above, so a failure runs deinit, which frees the
        // buffers: freeing them here too was a double free (seen when setns is refused to a non-root user).
    }

    deinit {
        if let socket = state.unsafeValue.socket { cnl_sock_diag_close(socket) }
        buffer.deallocate()
        requestBuffer.deallocate()
    }

    // MARK: Preparing

    /// Works out what the kernel is asked for `query` and what user space tests: the filter's devices looked
    /// up in the scanned namespace, states, request ports and bytecode compiled, the remainder kept.
    ///
    /// A filter that names states (`state established`, `exclude time-wait`) starts from all states, as in
    /// `ss`; ``ScanQuery/states`` is the selection used when it names none.
    /// - Throws: ``SockDiagError/filter(_:)`` for a device the namespace lacks or a program the kernel
    ///   cannot take, ``SockDiagError/invalidQuery(_:)`` for bytecode together with a filter,
    ///   ``SockDiagError/unsupported(_:)`` for a condition the `/proc` path cannot test when this scanner
    ///   reads `/proc`, ``SockDiagError/namespace(_:)`` when the namespace cannot be entered.
    public func prepare(_ query: ScanQuery) throws(SockDiagError) -> PreparedScan {
        let procfs = info.withLock { $0.procfsProtocols }
        do {
            return try PreparedScan(query, namespace: namespace, procfsProtocols: procfs)
        } catch {
            throw SockDiagError.typed(error)
        }
    }

    /// The scanned namespace's `ip_local_port_range` (the kernel default 32768–60999 when unreadable).
    public func ephemeralPorts() -> PortRange {
        (try? PortRange.ephemeral(in: namespace)) ?? .kernelDefault
    }

    /// An interface name by index, in the scanned namespace (`if_indextoname`).
    public func interfaceName(_ index: UInt32) -> String? {
        guard let namespace else { return NetworkDevices.name(of: index) }
        return (try? namespace.run { NetworkDevices.name(of: index) }) ?? nil
    }

    // MARK: Scanning

    /// Calls `body` with each socket that matches `query`, as the kernel returns them.
    ///
    /// TCP comes first, then UDP; within a protocol, the kernel's hash order (listeners first).
    /// - Returns: what the scan did.
    /// - Throws: ``SockDiagError``, or what `body` throws (the rest of the dump is then drained).
    @discardableResult
    public func forEach(_ query: ScanQuery, _ body: (SocketRecord) throws -> Void) throws -> ScanStatistics {
        try forEach(prepare(query), body)
    }

    /// Calls `body` with each socket that matches a prepared scan, as the kernel returns them.
    ///
    /// - Returns: what the scan did.
    /// - Throws: ``SockDiagError``, or what `body` throws (the rest of the dump is then drained).
    @discardableResult
    public func forEach(_ scan: PreparedScan, _ body: (SocketRecord) throws -> Void) throws -> ScanStatistics {
        try run(scan, RecordSink.self) { _, record in try body(record) }
    }

    /// Returns every socket that matches `query`.
    ///
    /// - Throws: ``SockDiagError``.
    public func records(_ query: ScanQuery) throws(SockDiagError) -> [SocketRecord] {
        var result: [SocketRecord] = []
        try rethrowing { try forEach(query) { result.append($0) } }
        return result
    }

    /// Counts the sockets that match `query`, per state.
    ///
    /// Where no part of the filter is left to user space, only each message's state is read (after the
    /// same checks as a full parse): no record is built.
    /// - Throws: ``SockDiagError``.
    public func count(_ query: ScanQuery) throws(SockDiagError) -> StateCounts {
        try count(prepare(query))
    }

    /// Counts the sockets that match a prepared scan, per state.
    ///
    /// - Throws: ``SockDiagError``.
    public func count(_ scan: PreparedScan) throws(SockDiagError) -> StateCounts {
        var counts = StateCounts()
        try rethrowing { _ = try run(scan, StateSink.self) { _, state in counts.add(state) } }
        return counts
    }

    /// Counts the sockets that match a prepared scan, per state, TCP and UDP apart (unconnected UDP sockets
    /// are in state close, which TCP has too): one scan, each message's state read without building a record.
    ///
    /// - Throws: ``SockDiagError``.
    public func countPerProtocol(_ scan: PreparedScan) throws(SockDiagError) -> (tcp: StateCounts, udp: StateCounts) {
        var tcp = StateCounts()
        var udp = StateCounts()
        try rethrowing {
            _ = try run(scan, StateSink.self) { proto, state in
                if proto == .tcp { tcp.add(state) } else { udp.add(state) }
            }
        }
        return (tcp, udp)
    }

    /// Runs `body`, whose only errors are the library's, with a typed error.
    private func rethrowing(_ body: () throws -> Void) throws(SockDiagError) {
        do {
            try body()
        } catch {
            throw SockDiagError.typed(error)
        }
    }

    /// `forEach(_:_:)` handing over what `sink` makes of each socket (the record, or only
    /// its state) and the protocol dumped, holding the scan lock throughout.
    func run<Sink: SocketSink>(
        _ scan: PreparedScan, _ sink: Sink.Type, _ body: (TransportProtocol, Sink.Item) throws -> Void
    ) throws -> ScanStatistics {
        var stats = ScanStatistics()
        guard let request = scan.request else { return stats }  // contradictory ports: nothing can match
        try state.withScanLock { (state: inout State) throws -> Void in
            do {
                if request.protocols.contains(.tcp) {
                    try self.scan(.tcp, request, scan, &state, &stats, sink) { try body(.tcp, $0) }
                }
                if request.protocols.contains(.udp) {
                    try self.scan(.udp, request, scan, &state, &stats, sink) { try body(.udp, $0) }
                }
            } catch {
                throw SockDiagError.wrapping(error)
            }
        }
        if stats.interrupted {
            logger.warning(
                "the socket table changed during the dump (NLM_F_DUMP_INTR); a socket may be missing or repeated")
        }
        return stats
    }

    private func scan<Sink: SocketSink>(
        _ proto: TransportProtocol, _ query: ScanQuery, _ plan: PreparedScan, _ state: inout State,
        _ stats: inout ScanStatistics, _ sink: Sink.Type, _ body: (Sink.Item) throws -> Void
    ) throws {
        let known = info.withLock { $0 }
        if known.procfsProtocols.contains(proto) {
            try scanProcfs(proto, query, plan, &stats) { try body(Sink.item($0)) }
            return
        }
        let families: [AddressFamily] = AddressFamily.allCases.filter { query.families.contains($0) }
        let before = stats.records  // this protocol's records so far: none, or a fallback would repeat them
        var onePassRefusal: NetlinkError? = nil
        if proto == .tcp && families.count == 2 && tcpStrategy != .perFamily && known.onePassSupported != false {
            do {
                try dump(.tcp, family: nil, query, plan.remainder, &state, &stats, sink, body)
                info.withLock { $0.onePassSupported = true }
                stats.usedOnePassTCP = true
                return
            } catch let error as NetlinkError
                where tcpStrategy == .automatic && known.onePassSupported == nil
                && [.invalidArgument, .notSupported, .noSuchFileOrDirectory, .protocolNotSupported].contains(
                    error.errno)
                && stats.records == before
            {
                // An older or stricter kernel, or (with bytecode) a program the auditor refused: the
                // per-family requests below tell which.
                if query.bytecode == nil {
                    info.withLock { $0.onePassSupported = false }
                } else {
                    onePassRefusal = error
                }
            }
        }
        if proto == .tcp && families.count == 2 && tcpStrategy == .onePass {
            throw SockDiagError.unsupported(
                "this kernel does not serve the one-pass TCPDIAG_GETSOCK dump; use --tcp-strategy per-family")
        }
        for family in families {
            do {
                try dump(proto, family: family, query, plan.remainder, &state, &stats, sink, body)
            } catch let error as NetlinkError
                where error.errno == .noSuchFileOrDirectory && stats.records == before && onePassRefusal == nil
            {
                // The protocol's diag module is missing (tcp_diag, udp_diag): /proc still has the sockets.
                guard plan.procfsCapable else { throw error }
                info.withLock { _ = $0.procfsProtocols.insert(proto == .tcp ? .tcp : .udp) }
                logger.warning("\(error); reading /proc/net/\(proto) instead")
                try scanProcfs(proto, query, plan, &stats) { try body(Sink.item($0)) }
                return
            }
        }
        // Per family worked where the one-pass request was refused: the kernel does not serve it.
        if onePassRefusal != nil { info.withLock { $0.onePassSupported = false } }
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
        _ state: inout State, _ stats: inout ScanStatistics, _ sink: Sink.Type, _ body: (Sink.Item) throws -> Void
    ) throws {
        let socket = try openSocket(&state)
        state.sequence &+= 1
        let seq = state.sequence
        let length = Self.buildRequest(proto, family: family, query, sequence: seq, into: requestBuffer)
        let operation =
            "dump \(proto) \(family?.description ?? "inet+inet6")\(query.bytecode == nil ? "" : " with filter bytecode")"
        if length < 0 { throw NetlinkError(errno: Errno(rawValue: -length), operation: operation) }
        let sent = cnl_sock_diag_send(socket, requestBuffer.baseAddress, Int(length))
        if sent < 0 { throw NetlinkError(errno: Errno(rawValue: -sent), operation: operation) }
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
            if bodyThrew && !(error is CancellationError) {
                drain(&d, &state)  // the kernel is still sending this dump: read it to its end
            } else if d.flags & UInt32(CNL_DUMP_F_ENDED) == 0 {
                // A receive error, a malformed reply, or a cancelled scan: the kernel may still be sending,
                // so the socket is out of step. Close it; the next scan opens a new one.
                closeSocket(&state)
            }
            throw error
        }
    }

    /// Opens a netlink socket in `namespace` (on a thread inside it) or in the caller's namespace.
    private static func open(in namespace: NetworkNamespace?) throws(SockDiagError) -> OpaquePointer {
        let open: @Sendable () -> Result<UInt, NetlinkError> = {
            guard let nl = cnl_sock_diag_open() else {
                return .failure(
                    NetlinkError(errno: Errno(rawValue: Glibc.errno), operation: "socket NETLINK_SOCK_DIAG"))
            }
            return .success(UInt(bitPattern: nl))  // an integer, so that it can cross threads
        }
        let result: Result<UInt, NetlinkError>
        if let namespace {
            do {
                result = try namespace.run(open)
            } catch {
                throw SockDiagError.typed(error)
            }
        } else {
            result = open()
        }
        switch result {
        case .success(let pointer): return OpaquePointer(bitPattern: pointer)!
        case .failure(let error): throw .kernel(error)
        }
    }

    /// The netlink socket, opened again (in the namespace) after an earlier one was closed out of step.
    func openSocket(_ state: inout State) throws(SockDiagError) -> OpaquePointer {
        if let socket = state.socket { return socket }
        let socket = try Self.open(in: namespace)
        state.socket = socket
        return socket
    }

    /// Sends a dump request and reads none of its reply, leaving the socket out of step as a dump abandoned
    /// by a failed receive would (tests only).
    package func queueStrayDumpForTesting() throws {
        try state.withScanLock { (state: inout State) throws -> Void in
            let socket = try openSocket(&state)
            state.sequence &+= 1
            let length = Self.buildRequest(
                .tcp, family: .inet, ScanQuery(), sequence: state.sequence, into: requestBuffer)
            _ = cnl_sock_diag_send(socket, requestBuffer.baseAddress, Int(length))
        }
    }

    func closeSocket(_ state: inout State) {
        if let socket = state.socket { cnl_sock_diag_close(socket) }
        state.socket = nil
    }

    /// Reads the rest of an abandoned dump so the next request starts clean; closes the socket when that fails.
    private func drain(_ d: inout cnl_dump, _ state: inout State) {
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
            closeSocket(&state)
        }
    }

    /// Reads `proto` sockets from `/proc/net` text, testing the whole query in user space.
    ///
    /// In another namespace the files are opened on a thread inside it (`/proc/thread-self/net` shows the
    /// opening thread's namespace, and an open file keeps it) and read here, streaming like a dump.
    private func scanProcfs(
        _ proto: TransportProtocol, _ query: ScanQuery, _ plan: PreparedScan, _ stats: inout ScanStatistics,
        _ body: (SocketRecord) throws -> Void
    ) throws {
        if let reason = plan.procfsRefusal { throw SockDiagError.unsupported(reason) }
        let filter = plan.filter?.expression
        stats.procfsFallback.insert(proto == .tcp ? .tcp : .udp)
        let families = AddressFamily.allCases.filter { query.families.contains($0) }
        let lport = query.localPort
        let rport = query.remotePort
        let reader = ProcNetReader(directory: namespace == nil ? "/proc/net" : "/proc/thread-self/net")
        let files = try ProcNetFiles.open(reader, proto, families, in: namespace)
        defer { files.close() }
        for (family, descriptor) in files.descriptors {
            try reader.forEach(proto, family, states: query.states, descriptor: descriptor) { record in
                if (lport == nil || record.local.port == lport) && (rport == nil || record.remote.port == rport)
                    && (filter == nil || filter!.matches(record))
                {
                    stats.records += 1
                    try body(record)
                }
            }
        }
    }
}

/// The `/proc/net` files of one protocol, opened in the scanned namespace.
struct ProcNetFiles: Sendable {
    /// Each family's open file.
    var descriptors: [(AddressFamily, Int32)]

    /// Opens `proto`'s file of each family, on a thread inside `namespace` when one is given. A missing
    /// IPv6 file (a kernel without IPv6) is left out, as `sockstat6` is.
    static func open(
        _ reader: ProcNetReader, _ proto: TransportProtocol, _ families: [AddressFamily],
        in namespace: NetworkNamespace?
    ) throws -> ProcNetFiles {
        let work: @Sendable () -> Result<ProcNetFiles, ProcNetError> = {
            var files = ProcNetFiles(descriptors: [])
            for family in families {
                let path = reader.path(proto, family)
                let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 {
                    let code = Glibc.errno
                    if code == ENOENT && family == .inet6 { continue }
                    files.close()
                    return .failure(.unreadable(file: path, errno: Errno(rawValue: code)))
                }
                files.descriptors.append((family, fd))
            }
            return .success(files)
        }
        let result = try namespace.map { try $0.run(work) } ?? work()
        return try result.get()
    }

    /// Closes every file.
    func close() {
        for (_, fd) in descriptors { _ = Glibc.close(fd) }
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

/// Whole records (`forEach(_:_:)`).
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

/// States only (`count(_:)`).
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
