import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SockMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP server of `sockscan serve`: `/metrics` (Prometheus text or OpenMetrics, by the `Accept`
/// header), `/healthz` (200 `ok`, or 503 and the reason when the last collection failed or the namespace
/// scanned is gone), and a short index at `/`.
///
/// SwiftNIO's HTTP/1.1 codec parses requests (keep-alive and pipelining included); every connection is
/// served on an event loop that never blocks: a scrape hands its request to the ``MetricsExporter``, whose
/// own thread scans, and writes the answer when the scan is done. So a slow or stalled client holds only
/// its own connection, and ``Limits`` bound how many connections, for how long, with how many bytes.
/// ``shutdown(grace:)`` stops accepting, lets requests in progress finish and
/// closes idle keep-alive connections.
public final class MetricsServer: Sendable {
    /// Where the server listens (with the port the kernel chose when 0 was asked for).
    public let address: SocketAddress

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let connections: ConnectionSet
    private let exporter: MetricsExporter

    /// What one client may hold: connections, time and bytes.
    ///
    /// Every connection holds a file descriptor: without bounds, idle connections, or a client that
    /// trickles a request head or streams an endless body, could take every descriptor the process may
    /// open. The metrics endpoints take no body.
    public struct Limits: Hashable, Sendable {
        /// Connections open at once (`--max-connections`). At the limit a new connection displaces the
        /// longest idle one, else the one waiting longest for its request head; when every connection is
        /// being answered, the new one is closed as soon as it is accepted.
        public var maxConnections = 256
        /// A connection that sends nothing for this long between requests is closed.
        public var idleTimeout: TimeAmount = .seconds(120)
        /// A request head must be complete this long after the connection opened, or after the first byte
        /// of a later request on it; else the connection is closed.
        public var headTimeout: TimeAmount = .seconds(10)
        /// Request head bytes (header names and values); a longer head is answered 400 and closed.
        public var maxHeadBytes = 8 * 1024
        /// Request body bytes; a longer body is answered 413 and the connection closed.
        public var maxBodyBytes = 4 * 1024

        public init() {}
    }

    /// Binds `host`:`port` and starts serving.
    ///
    /// - Parameters:
    ///   - host: a numeric IPv4 or IPv6 address.
    ///   - port: 0 lets the kernel choose.
    ///   - exporter: where `/metrics` gets its collections.
    ///   - limits: connections, timeouts and request sizes.
    /// - Throws: NIO's errors for an address that cannot be bound (`EADDRINUSE`, `EADDRNOTAVAIL`).
    public init(host: String, port: Int, exporter: MetricsExporter, limits: Limits = Limits()) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionSet()
        let decoderLimits = {
            var decoder = NIOHTTPDecoderLimitConfiguration()
            decoder.maxHeaderFieldSize = limits.maxHeadBytes
            decoder.maxHeaderListSize = limits.maxHeadBytes
            return decoder
        }()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionLimitHandler(connections: connections, limit: limits.maxConnections))
                }
            }
            // IPPROTO_TCP: `.socketOption(.tcp_nodelay)` would be SOL_SOCKET option 1, SO_DEBUG, which needs
            // CAP_NET_ADMIN (every connection of a non-root serve was closed at accept).
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let deadline = RequestHeadDeadline(timeout: limits.headTimeout, connections: connections)
                    try sync.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
                    try sync.addHandler(deadline.bytesObserver)
                    try sync.configureHTTPServerPipeline(
                        withErrorHandling: true, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: decoderLimits)
                    try sync.addHandler(
                        deadline.headObserver, position: .before(try sync.handler(type: HTTPServerPipelineHandler.self))
                    )
                    try sync.addHandler(
                        MetricsHTTPHandler(
                            exporter: exporter, maxBodyBytes: limits.maxBodyBytes, connections: connections))
                }
            }
        do {
            let address = try SocketAddress(ipAddress: host, port: port)
            channel = try bootstrap.bind(to: address).wait()
            self.address = channel.localAddress ?? address
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.group = group
        self.connections = connections
        self.exporter = exporter
    }

    /// A future that completes when the listening socket is closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Stops accepting, asks every connection to close once its request in progress is answered
    /// (idle keep-alive connections close at once), stops the exporter's thread (a running scan ends and
    /// its scrapes are answered; requests not yet started fail), waits at most `grace` for the
    /// connections, then closes what is left and stops the event loop.
    ///
    /// The event loop stops last: the exporter hands its results to the loop, and a task handed to a
    /// loop that has stopped is lost (NIO reports it on stderr and means to make it a crash).
    public func shutdown(grace: TimeAmount = .seconds(5)) {
        try? channel.close().wait()
        for (connection, activity) in connections.all {
            // One still waiting for its head has no request to finish: closed at once. (Quiesced, the
            // decoder's error for its part of a head would be answered after NIO's pipeline handler
            // completed quiescing, which it asserts against.)
            if activity == .awaitingHead {
                connection.close(promise: nil)
            } else {
                connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }
        let deadline = NIODeadline.now() + grace
        exporter.shutdown()
        while !connections.isEmpty && NIODeadline.now() < deadline { usleep(10_000) }
        for (connection, _) in connections.all { try? connection.close().wait() }
        try? group.syncShutdownGracefully()
    }
}

/// The connections open now and what each is doing, so shutdown can reach them and their number can be
/// bounded without letting clients that hold connections doing nothing lock out the ones that scrape.
///
/// At the limit a new connection is taken and one that is doing nothing gives way: the one idle longest
/// between requests (a keep-alive client opens another when it needs one), else the one that has waited
/// longest for its request head (a silent or slowloris client; a real scrape sends its head at once, so it
/// is the newest). A connection whose request is being answered never gives way. So idle and slow clients,
/// however many, cannot keep a scrape out: each new connection displaces the oldest of them.
final class ConnectionSet: Sendable {
    /// What a connection is doing.
    enum Activity: Hashable, Sendable {
        /// Connected, or past a request, with part of the next head (or nothing) received.
        case awaitingHead
        /// A request is being answered.
        case busy
        /// Answered; nothing of the next request received.
        case idle
    }

    private struct Entry {
        var channel: any Channel
        var activity: Activity
        /// When it entered `activity`, on the set's own counter (no clock needed for "oldest").
        var since: UInt64
        /// Which insertion this is, so that a close removes this entry and never a later one.
        var serial: UInt64
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var counter: UInt64 = 0

        mutating func tick() -> UInt64 {
            counter += 1
            return counter
        }

        /// The connection to close to make room: the longest idle, else the longest waiting for its head.
        func victim() -> ObjectIdentifier? {
            var best: (id: ObjectIdentifier, rank: (Int, UInt64))?
            for (id, entry) in entries {
                let rank: (Int, UInt64)
                switch entry.activity {
                case .idle: rank = (0, entry.since)
                case .awaitingHead: rank = (1, entry.since)
                case .busy: continue
                }
                if best.map({ rank < $0.rank }) ?? true { best = (id, rank) }
            }
            return best?.id
        }
    }

    private let state = NIOLockedValueBox(State())

    /// Adds `channel`; when `limit` connections are open already, first closes the one that can best give
    /// way (see the type), if any.
    ///
    /// - Returns: whether it was added (it leaves the set when it closes): false when every open connection
    ///   is being answered.
    func insert(_ channel: any Channel, limit: Int) -> Bool {
        let id = ObjectIdentifier(channel)
        let (serial, evicted): (UInt64?, (any Channel)?) = state.withLockedValue { state in
            var evicted: (any Channel)?
            if state.entries.count >= limit {
                guard let victim = state.victim(), let entry = state.entries.removeValue(forKey: victim) else {
                    return (nil, nil)
                }
                evicted = entry.channel
            }
            let serial = state.tick()
            state.entries[id] = Entry(channel: channel, activity: .awaitingHead, since: serial, serial: serial)
            return (serial, evicted)
        }
        evicted?.close(promise: nil)
        guard let serial else { return false }
        channel.closeFuture.whenComplete { [state] _ in
            state.withLockedValue {
                if $0.entries[id]?.serial == serial { $0.entries.removeValue(forKey: id) }
            }
        }
        return true
    }

    /// Records what `channel` does now. From ``Activity/busy``, only ``Activity/idle`` is taken (bytes of
    /// a pipelined request do not make an answered connection a waiting one).
    func mark(_ channel: any Channel, _ activity: Activity) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { state in
            guard var entry = state.entries[id], entry.activity != activity else { return }
            if entry.activity == .busy && activity == .awaitingHead { return }
            entry.activity = activity
            entry.since = state.tick()
            state.entries[id] = entry
        }
    }

    /// The connections and what each is doing.
    var all: [(channel: any Channel, activity: Activity)] {
        state.withLockedValue { $0.entries.values.map { ($0.channel, $0.activity) } }
    }

    var isEmpty: Bool { state.withLockedValue { $0.entries.isEmpty } }
}

/// On the listening channel, ahead of the bootstrap's own handler: at `limit` open connections, makes room
/// for an accepted one by closing one that does nothing (see ``ConnectionSet``), or closes the accepted one
/// at once, before it is set up or read, when every connection is being answered.
final class ConnectionLimitHandler: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let connections: ConnectionSet
    private let limit: Int

    init(connections: ConnectionSet, limit: Int) {
        self.connections = connections
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let accepted = unwrapInboundIn(data)
        guard connections.insert(accepted, limit: limit) else {
            accepted.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

/// Closes a connection whose request head is not complete `timeout` after the connection opened, or
/// after the first byte of a later request: a client that trickles its head (or sends nothing) holds a
/// descriptor for at most that long. Between requests the connection's idle timeout applies instead.
///
/// It needs two places in the pipeline: the raw bytes, before the HTTP decoder (``bytesObserver``),
/// and the decoded heads, before the pipelining handler holds them back (``headObserver``).
final class RequestHeadDeadline {
    private let timeout: TimeAmount
    private let connections: ConnectionSet
    /// No request is in progress: the next bytes start one.
    private var awaitingHead = true
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, connections: ConnectionSet) {
        self.timeout = timeout
        self.connections = connections
    }

    var bytesObserver: BytesObserver { BytesObserver(self) }
    var headObserver: HeadObserver { HeadObserver(self) }

    private func requestBytes(_ context: ChannelHandlerContext) {
        guard awaitingHead, timer == nil else { return }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { bound.value.close(promise: nil) }
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }

    /// Arms the deadline when the connection opens and when a request's first bytes arrive.
    final class BytesObserver: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        private let deadline: RequestHeadDeadline

        fileprivate init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { deadline.requestBytes(context) }
        }

        func channelActive(context: ChannelHandlerContext) {
            deadline.requestBytes(context)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            deadline.requestBytes(context)
            // An idle connection starts a request: until its head is complete, it is a head waiter.
            deadline.connections.mark(context.channel, .awaitingHead)
            context.fireChannelRead(data)
        }

        func channelInactive(context: ChannelHandlerContext) {
            deadline.cancel()
            context.fireChannelInactive()
        }
    }

    /// Disarms the deadline when a head is decoded; the end of the request awaits the next.
    final class HeadObserver: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        private let deadline: RequestHeadDeadline

        fileprivate init(_ deadline: RequestHeadDeadline) { self.deadline = deadline }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head:
                deadline.awaitingHead = false
                deadline.cancel()
            case .body: break
            case .end: deadline.awaitingHead = true
            }
            context.fireChannelRead(data)
        }
    }
}

/// Answers one connection's requests, in order (NIO's pipelining handler holds later ones back).
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: MetricsExporter
    private let maxBodyBytes: Int
    private let connections: ConnectionSet
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    /// The request was refused (413) and the connection is closing: what is left of it is dropped.
    private var refused = false
    /// A response is being made (a scan is running for it): the connection is not idle.
    private var busy = false

    init(exporter: MetricsExporter, maxBodyBytes: Int, connections: ConnectionSet) {
        self.exporter = exporter
        self.maxBodyBytes = maxBodyBytes
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            connections.mark(context.channel, .busy)
            if let length = head.headers["Content-Length"].first.flatMap({ Int($0) }), length > maxBodyBytes {
                refuseBody(context: context)
            }
        case .body(let chunk):
            // No route takes a body; one that goes on and on would keep the idle timer from firing.
            bodyBytes += chunk.readableBytes
            if bodyBytes > maxBodyBytes { refuseBody(context: context) }
        case .end:
            guard let head else { return }
            self.head = nil
            route(head, context: context)
        }
    }

    /// Answers 413 and closes the connection.
    private func refuseBody(context: ChannelHandlerContext) {
        guard let head else { return }
        refused = true
        self.head = nil
        respond(
            head, .payloadTooLarge, text: "request body over \(maxBodyBytes) bytes: /metrics takes none\n",
            closing: true, context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, !busy {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard head.method == .GET || head.method == .HEAD else {
            var headers = HTTPHeaders()
            headers.add(name: "Allow", value: "GET, HEAD")
            return respond(head, .methodNotAllowed, text: "only GET and HEAD\n", extra: headers, context: context)
        }
        switch path {
        case "/metrics":
            let format = ExpositionFormat.negotiate(accept: head.headers["Accept"].first)
            busy = true
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            exporter.get { result in
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.busy = false
                    switch result {
                    case .success(let rendered):
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: format.contentType)
                        handler.respond(head, .ok, body: rendered.body(format), extra: headers, context: context)
                    case .failure(let error):
                        handler.respond(
                            head, .internalServerError, text: "sockscan: scan failed: \(error)\n", context: context)
                    }
                }
            }
        case "/healthz":
            // Healthy until a collection fails: a process that answers while every scrape fails is not. Nor
            // one that watches a namespace that is gone: it would answer for a namespace without sockets.
            if let gone = exporter.namespaceGone {
                respond(head, .serviceUnavailable, text: "sockscan: \(gone)\n", context: context)
            } else if let error = exporter.lastError {
                respond(head, .serviceUnavailable, text: "sockscan: last scan failed: \(error)\n", context: context)
            } else {
                respond(head, .ok, text: "ok\n", context: context)
            }
        case "/":
            respond(
                head, .ok,
                text: "sockscan exporter\n/metrics  socket metrics (Prometheus text or OpenMetrics)\n"
                    + "/healthz  ok, or 503 and the reason when the last scan failed or the namespace is gone\n",
                context: context)
        default:
            respond(head, .notFound, text: "not found: try /metrics\n", context: context)
        }
    }

    private func respond(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, text: String, extra: HTTPHeaders = [:],
        closing: Bool = false, context: ChannelHandlerContext
    ) {
        var headers = extra
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        respond(request, status, body: Array(text.utf8), extra: headers, closing: closing, context: context)
    }

    /// Writes a response; closes the connection after it when the client or `closing` asks.
    private func respond(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, body: [UInt8], extra: HTTPHeaders,
        closing: Bool = false, context: ChannelHandlerContext
    ) {
        guard context.channel.isActive else { return }
        var headers = extra
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive && !closing
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let response = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if request.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlushPromise(wrapOutboundOut(.end(nil)))
        // Answered: the connection may give way to a new one now (a client that does not read its answer
        // holds nothing).
        connections.mark(context.channel, .idle)
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.futureResult.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise(_ data: NIOAny) -> EventLoopPromise<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        writeAndFlush(data, promise: promise)
        return promise
    }
}
