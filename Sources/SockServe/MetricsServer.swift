import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SockMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP server of `sockscan serve`: `/metrics` (Prometheus text or OpenMetrics, by the `Accept`
/// header), `/healthz` (200 `ok`, or 503 and the error when the last collection failed), and a short
/// index at `/`.
///
/// SwiftNIO's HTTP/1.1 codec parses requests (keep-alive and pipelining included); every connection is
/// served on an event loop that never blocks: a scrape hands its request to the ``MetricsExporter``, whose
/// own thread scans, and writes the answer when the scan is done. So a slow or stalled client holds only
/// its own connection. ``shutdown(grace:)`` stops accepting, lets requests in progress finish and
/// closes idle keep-alive connections.
public final class MetricsServer: Sendable {
    /// Where the server listens (with the port the kernel chose when 0 was asked for).
    public let address: SocketAddress

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let connections: ConnectionSet
    private let exporter: MetricsExporter

    /// Binds `host`:`port` and starts serving.
    ///
    /// - Parameters:
    ///   - host: a numeric IPv4 or IPv6 address.
    ///   - port: 0 lets the kernel choose.
    ///   - exporter: where `/metrics` gets its collections.
    ///   - idleTimeout: a connection that sends nothing for this long is closed.
    /// - Throws: NIO's errors for an address that cannot be bound (`EADDRINUSE`, `EADDRNOTAVAIL`).
    public init(
        host: String, port: Int, exporter: MetricsExporter, idleTimeout: TimeAmount = .seconds(120)
    ) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionSet()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                connections.insert(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(MetricsHTTPHandler(exporter: exporter))
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
        for connection in connections.all {
            connection.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let deadline = NIODeadline.now() + grace
        exporter.shutdown()
        while !connections.isEmpty && NIODeadline.now() < deadline { usleep(10_000) }
        for connection in connections.all { try? connection.close().wait() }
        try? group.syncShutdownGracefully()
    }
}

/// The connections open now, so shutdown can reach them.
final class ConnectionSet: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func insert(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [channels] _ in
            _ = channels.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    var all: [any Channel] { channels.withLockedValue { Array($0.values) } }
    var isEmpty: Bool { channels.withLockedValue { $0.isEmpty } }
}

/// Answers one connection's requests, in order (NIO's pipelining handler holds later ones back).
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let exporter: MetricsExporter
    private var head: HTTPRequestHead?
    /// A response is being made (a scan is running for it): the connection is not idle.
    private var busy = false

    init(exporter: MetricsExporter) { self.exporter = exporter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break  // no route takes a body; NIO's decoder bounds what it buffers
        case .end:
            guard let head else { return }
            self.head = nil
            route(head, context: context)
        }
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
            // Healthy until a collection fails: a process that answers while every scrape fails is not.
            if let error = exporter.lastError {
                respond(head, .serviceUnavailable, text: "sockscan: last scan failed: \(error)\n", context: context)
            } else {
                respond(head, .ok, text: "ok\n", context: context)
            }
        case "/":
            respond(
                head, .ok,
                text: "sockscan exporter\n/metrics  socket metrics (Prometheus text or OpenMetrics)\n"
                    + "/healthz  ok, or 503 and the error when the last scan failed\n",
                context: context)
        default:
            respond(head, .notFound, text: "not found: try /metrics\n", context: context)
        }
    }

    private func respond(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, text: String, extra: HTTPHeaders = [:],
        context: ChannelHandlerContext
    ) {
        var headers = extra
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        respond(request, status, body: Array(text.utf8), extra: headers, context: context)
    }

    private func respond(
        _ request: HTTPRequestHead, _ status: HTTPResponseStatus, body: [UInt8], extra: HTTPHeaders,
        context: ChannelHandlerContext
    ) {
        guard context.channel.isActive else { return }
        var headers = extra
        headers.add(name: "Content-Length", value: String(body.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let response = HTTPResponseHead(version: request.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if request.method != .HEAD {
            context.write(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlushPromise(wrapOutboundOut(.end(nil)))
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
