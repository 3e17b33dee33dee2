internal import CNetlink
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A socket the kernel destroyed, as the sock_diag multicast groups report it (what `ss -E` prints).
///
/// A TCP socket is destroyed when it is done: the side that closed first when it enters TIME_WAIT (the
/// TIME_WAIT socket that replaces it holds the port for 60 s more), the other side when its last ACK
/// arrives, and either side at once on a reset. So every destroyed TCP socket is a connection that ended.
public struct SocketEvent: Hashable, Sendable {
    /// What happened to the socket.
    public enum Kind: String, Hashable, Sendable {
        /// The kernel destroyed it.
        case destroy
    }

    /// What happened.
    public var kind: Kind
    /// When the event was received, since 1970 (`CLOCK_REALTIME`).
    public var time: Duration
    /// The socket as the kernel last saw it: its addresses, ports, cookie and, for TCP, its final `tcp_info`
    /// (bytes, segments, retransmits, rtt). Its state is `close`.
    public var socket: SocketRecord

    /// An event of `kind` at `time` for `socket`.
    public init(kind: Kind = .destroy, time: Duration, socket: SocketRecord) {
        self.kind = kind
        self.time = time
        self.socket = socket
    }
}

/// Receives the sockets the kernel destroys in one network namespace, through the sock_diag multicast groups
/// (`SKNLGRP_INET_TCP_DESTROY`, `SKNLGRP_INET6_TCP_DESTROY`, and the UDP ones).
///
/// The kernel sends one `inet_diag_msg` per destroyed socket to every subscribed socket, without waiting: when
/// the receive buffer is full it drops the message and counts it. The monitor asks for a large buffer
/// (8 MiB by default; bursts of tens of thousands of closes fit), and ``droppedEvents`` reads the kernel's
/// exact count of what was lost (`SO_MEMINFO`'s drops), so nothing is lost silently.
///
/// Any user may join the groups (the kernel's sock_diag socket sets `NL_CFG_F_NONROOT_RECV`), as any user may
/// dump sockets: an unprivileged process receives the events of every socket of its namespace. A security
/// policy may still refuse (`EPERM`).
public final class SocketEventMonitor: @unchecked Sendable {
    /// The namespace watched, `nil` for the caller's.
    public let namespace: NetworkNamespace?
    /// The filter each event is tested against (in user space), its devices resolved; `nil` for none.
    public let filter: Filter?
    /// The receive buffer the kernel granted, bytes.
    public let receiveBufferBytes: Int

    private let socket: OpaquePointer
    private let wakeFD: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private let stopped = CancellationFlag()
    private let receiving = ScanLock(())

    /// Subscribes to the destroy events of `protocols` and `families` in `namespace`.
    ///
    /// - Parameters:
    ///   - namespace: the network namespace to watch (the socket is opened on a thread inside it); `nil`
    ///     for the caller's.
    ///   - protocols: TCP, UDP or both.
    ///   - families: IPv4, IPv6 or both.
    ///   - filter: tested on each event in user space. It may test addresses, ports and devices; not
    ///     `state` (every destroyed socket is in state close) nor `autobound` (the kernel alone can test it).
    ///   - receiveBufferBytes: the receive buffer to ask for (`SO_RCVBUFFORCE`, else `SO_RCVBUF` up to
    ///     `net.core.rmem_max`).
    /// - Throws: ``SockDiagError``: `.permission` when a security policy refuses the groups, `.usage` for a
    ///   filter the events cannot be tested against, `.namespace` when the namespace cannot be entered.
    public init(
        namespace: NetworkNamespace? = nil, protocols: ProtocolSet = .all, families: FamilySet = .all,
        filter: Filter? = nil, receiveBufferBytes: Int = 8 << 20
    ) throws(SockDiagError) {
        if let expression = filter?.expression {
            if expression.mentionsState {
                throw .invalidQuery(
                    "a filter of destroyed sockets cannot test 'state': every destroyed socket is in state close")
            }
            if !expression.evaluableInUserSpace {
                throw .invalidQuery("a filter of destroyed sockets cannot test 'autobound' (only a dump can)")
            }
        }
        var groups: UInt32 = 0
        func add(_ group: Int32) { groups |= 1 << UInt32(group - 1) }
        if protocols.contains(.tcp) && families.contains(.inet) { add(Int32(SKNLGRP_INET_TCP_DESTROY.rawValue)) }
        if protocols.contains(.tcp) && families.contains(.inet6) { add(Int32(SKNLGRP_INET6_TCP_DESTROY.rawValue)) }
        if protocols.contains(.udp) && families.contains(.inet) { add(Int32(SKNLGRP_INET_UDP_DESTROY.rawValue)) }
        if protocols.contains(.udp) && families.contains(.inet6) { add(Int32(SKNLGRP_INET6_UDP_DESTROY.rawValue)) }
        let requested = Int32(clamping: receiveBufferBytes)
        let subscribed = groups
        let open: @Sendable () -> Result<UInt, NetlinkError> = {
            guard let nl = cnl_sock_diag_open() else {
                return .failure(
                    NetlinkError(errno: Errno(rawValue: Glibc.errno), operation: "socket NETLINK_SOCK_DIAG"))
            }
            let rc = cnl_sock_diag_subscribe(nl, subscribed, requested)
            if rc < 0 {
                cnl_sock_diag_close(nl)
                return .failure(
                    NetlinkError(errno: Errno(rawValue: -rc), operation: "join the sock_diag destroy groups"))
            }
            return .success(UInt(bitPattern: nl))
        }
        let resolved: Filter?
        let opened: Result<UInt, NetlinkError>
        do {
            resolved = try filter.map { try NetworkDevices.resolving($0, in: namespace) }
            opened = try namespace.map { try $0.run(open) } ?? open()
        } catch {
            throw SockDiagError.typed(error)
        }
        let socket: OpaquePointer
        switch opened {
        case .success(let pointer): socket = OpaquePointer(bitPattern: pointer)!
        case .failure(let error): throw .kernel(error)
        }
        let wake = cnl_wake_fd_open()
        if wake < 0 {
            cnl_sock_diag_close(socket)
            throw .unsupported("cannot make an eventfd: \(Errno(rawValue: Glibc.errno))")
        }
        self.namespace = namespace
        self.filter = resolved
        self.socket = socket
        self.wakeFD = wake
        self.receiveBufferBytes = Int(max(0, cnl_sock_rcvbuf(socket)))
        // Datagrams of destroy events are small (one message each, ~400 bytes with tcp_info); 64 KiB takes
        // any batch the kernel coalesces.
        buffer = .allocate(byteCount: 65536, alignment: 16)
    }

    deinit {
        cnl_sock_diag_close(socket)
        close(wakeFD)
        buffer.deallocate()
    }

    /// Messages the kernel dropped because the receive buffer was full, since the monitor was made (exact:
    /// the kernel counts each).
    public var droppedEvents: UInt64 {
        var drops: UInt32 = 0
        return cnl_sock_drops(socket, &drops) == 0 ? UInt64(drops) : 0
    }

    /// Whether ``stop()`` was called.
    public var isStopped: Bool { stopped.isSet }

    /// Makes a waiting ``receive(timeout:_:)`` return, now and from then on.
    public func stop() {
        stopped.set()
        wake()
    }

    /// Makes a waiting ``receive(timeout:_:)`` return once.
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Waits up to `timeout` (for ever when `nil`) for events, then calls `body` with every event queued and
    /// matching the filter.
    ///
    /// Allocates nothing per event.
    /// - Returns: the events delivered; 0 when the timeout passed, or the monitor was stopped or woken.
    /// - Throws: ``SockDiagError`` (a receive error, a malformed message), or what `body` throws.
    @discardableResult
    public func receive(timeout: Duration? = nil, _ body: (SocketEvent) throws -> Void) throws -> Int {
        try receiving.withScanLock { _ in try receiveLocked(timeout: timeout, body) }
    }

    private func receiveLocked(timeout: Duration?, _ body: (SocketEvent) throws -> Void) throws -> Int {
        if stopped.isSet { return 0 }
        var fds = [
            pollfd(fd: cnl_sock_fd(socket), events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds: Int32 =
            timeout.map {
                Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)
            }
            ?? -1
        let ready = poll(&fds, 2, milliseconds)
        if ready < 0 {
            if Glibc.errno == EINTR { return 0 }
            throw SockDiagError.kernel(
                NetlinkError(errno: Errno(rawValue: Glibc.errno), operation: "poll the event socket"))
        }
        if fds[1].revents != 0 {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            return 0
        }
        if fds[0].revents == 0 { return 0 }
        var delivered = 0
        var time = timespec()
        // Everything queued now, bounded so that a flood cannot keep the caller here for ever.
        for _ in 0..<4096 {
            let n = cnl_sock_recv(socket, buffer.baseAddress, buffer.count)
            if n == -Int(ENOBUFS) { continue }  // messages were dropped: counted by the kernel (droppedEvents)
            if n < 0 {
                throw SockDiagError.kernel(
                    NetlinkError(errno: Errno(rawValue: Int32(-n)), operation: "receive destroy events"))
            }
            if n == 0 { break }
            clock_gettime(CLOCK_REALTIME, &time)
            let now = Duration.seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
            delivered += try Self.parseDatagram(
                UnsafeRawBufferPointer(rebasing: buffer[0..<n]), time: now, filter: filter?.expression, body)
        }
        return delivered
    }

    /// Calls `body` with each destroyed socket of one datagram that matches `filter`.
    ///
    /// - Returns: the events delivered.
    /// - Throws: ``SockDiagError/malformedReply(_:)`` for a message whose length or attributes do not fit.
    package static func parseDatagram(
        _ datagram: UnsafeRawBufferPointer, time: Duration, filter: FilterExpression?,
        _ body: (SocketEvent) throws -> Void
    ) throws -> Int {
        var offset = 0
        var type: UInt16 = 0
        var payload: UnsafeRawPointer?
        var length: UInt32 = 0
        var delivered = 0
        while true {
            let at = offset
            let rc = cnl_msg_next(datagram.baseAddress, datagram.count, &offset, &type, &payload, &length)
            if rc == 0 { return delivered }
            if rc < 0 {
                throw SockDiagError.malformedReply(
                    .truncated(offset: at, needed: Int(cnl_nlmsg_hdrlen()), available: datagram.count - at))
            }
            guard type == cnl_sock_diag_by_family() else { continue }
            let message = UnsafeRawBufferPointer(start: payload, count: Int(length))
            let parsed: SocketRecord?
            do {
                parsed = try InetDiagDump.parseMessage(message, proto: .tcp, offset: at + Int(cnl_nlmsg_hdrlen()))
            } catch {
                throw SockDiagError.malformedReply(error)
            }
            guard let socket = parsed, filter?.matches(socket) ?? true else { continue }
            delivered += 1
            try body(SocketEvent(kind: .destroy, time: time, socket: socket))
        }
    }

    /// The events, as an asynchronous sequence received on a thread of its own (never a pool thread).
    ///
    /// It ends only when ``stop()`` is called or the task is cancelled (or the loop left).
    public func events() -> SocketEventSequence { SocketEventSequence(monitor: self) }
}

/// Destroy events as an asynchronous sequence (``SocketEventMonitor/events()``).
public struct SocketEventSequence: AsyncSequence, Sendable {
    public typealias Element = SocketEvent
    public typealias Failure = any Error

    let monitor: SocketEventMonitor

    /// An iterator; receiving starts at its first ``AsyncIterator/next()``.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: Consumer(monitor: monitor)) }

    /// The consuming side: starts the receiving thread on first use and stops it when dropped.
    final class Consumer: @unchecked Sendable {
        private let channel = BatchChannel<SocketEvent>()
        private let monitor: SocketEventMonitor
        private var started = false

        init(monitor: SocketEventMonitor) {
            self.monitor = monitor
            channel.onCancel = { [monitor] in monitor.wake() }
        }

        deinit { channel.cancel() }

        func nextBatch() async throws -> [SocketEvent]? {
            if !started {
                started = true
                let channel = self.channel
                let monitor = self.monitor
                try DedicatedThread.start {
                    do {
                        while !channel.isCancelled && !monitor.isStopped {
                            var batch: [SocketEvent] = []
                            try monitor.receive { batch.append($0) }
                            if !batch.isEmpty { try channel.send(batch) }
                        }
                        channel.finish(.success(()))
                    } catch {
                        channel.finish(.failure(error))
                    }
                }
            }
            return try await channel.receive()
        }
    }

    /// Iterates the events. Dropping it stops the receiving thread.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        private var cursor = BatchCursor<SocketEvent>()

        init(consumer: Consumer) { self.consumer = consumer }

        /// The next event; `nil` once the monitor was stopped.
        ///
        /// - Throws: ``SockDiagError``, or `CancellationError` when the task was cancelled.
        public mutating func next() async throws -> SocketEvent? {
            let consumer = self.consumer
            return try await cursor.next { try await consumer.nextBatch() }
        }
    }
}
