import Foundation
import SockDiag

/// Opens and closes loopback TCP connections at a known rate per destination inside a ``TestNamespace``,
/// from one thread of its own, until stopped, until `limit` connections or `maxSeconds` (every loop is
/// bounded), beside `held` established pairs that stay open throughout.
///
/// Each connection is `connect` to the destination's listener, `accept`, then both closed in the
/// destination's order: the client first (TIME-WAIT on the client's ephemeral port, which counts against
/// that destination's ports), the server first (TIME-WAIT on the server side), or a reset (`SO_LINGER`
/// 0: no TIME-WAIT). Due times are spaced `1/perSecond` apart per destination; a destination that falls
/// more than a second behind starts again from now rather than catching up in a burst, so
/// ``Report/made`` divided by ``Report/seconds`` is the rate the namespace actually saw.
///
/// A destination of rate 0 is only connected to by the held pairs (a keep-alive pool). Each close is stamped
/// (``closes(from:to:)``), and the first failure too (``Report/failureTime``), on ``now()``'s clock.
///
/// In the namespace: `ip_local_port_range` is set to `ephemeralPorts` (by default 10000–65535: 55,536
/// ephemeral ports per destination); TIME-WAIT sockets outlive ``stop()`` until the namespace is deleted.
public final class ConnectionChurn: @unchecked Sendable {
    /// Which side closes first.
    public enum CloseOrder: Sendable {
        case clientFirst, serverFirst, reset
    }

    /// A listener to connect to, and how often.
    public struct Destination: Sendable, Hashable {
        public var endpoint: Endpoint
        /// Connections per second; 0: none but the held pairs.
        public var perSecond: Int
        public var close: CloseOrder
        /// Bytes the client sends on each connection (the server reads them all before the close).
        public var bytes: Int

        public init(_ endpoint: Endpoint, perSecond: Int, close: CloseOrder = .clientFirst, bytes: Int = 0) {
            self.endpoint = endpoint
            self.perSecond = perSecond
            self.close = close
            self.bytes = bytes
        }
    }

    /// What the generator did.
    public struct Report: Sendable, CustomStringConvertible {
        /// Connections opened and closed, per destination (in the order given).
        public var made: [Int]
        /// Seconds from the first connection to the stop.
        public var seconds: Double
        /// The first failed call, which stopped the generator; nil when it ran clean.
        public var failure: String?
        /// When that call failed (``ConnectionChurn/now()``), and its errno (0 when it was no system call).
        public var failureTime: Double?
        public var failureErrno: Int32 = 0

        /// Connections made to all destinations.
        public var total: Int { made.reduce(0, +) }

        public var description: String {
            let rate = seconds > 0 ? Double(total) / seconds : 0
            return "\(total) connections in \(String(format: "%.2f", seconds)) s (\(Int(rate))/s; per destination "
                + "\(made.map(String.init).joined(separator: ", ")))" + (failure.map { "; failed: \($0)" } ?? "")
        }
    }

    public let destinations: [Destination]
    private let namespace: TestNamespace
    private let limit: Int
    private let maxSeconds: Double
    private let lock = NSLock()
    private var stopping = false
    private var report: Report
    private var held: [Int32] = []
    private var listeners: [Int32] = []
    private let finished = DispatchSemaphore(value: 0)
    private var running = false
    /// Per destination, when each connection was closed (``now()``).
    private var closeTimes: [[Double]]

    /// Makes the listeners and the held pairs (on a thread inside `namespace`) and starts the churn.
    ///
    /// - Throws: ``SystemCallError`` when a socket call fails (what was made is closed again).
    public init(
        in namespace: TestNamespace, destinations: [Destination], held heldPairs: Int = 0, limit: Int = 1_000_000,
        maxSeconds: Double = 120, ephemeralPorts: ClosedRange<Int> = 10000...65535
    ) throws {
        precondition(destinations.allSatisfy { $0.perSecond >= 0 }, "a rate must not be negative")
        self.namespace = namespace
        self.destinations = destinations
        self.limit = limit
        self.maxSeconds = maxSeconds
        report = Report(made: Array(repeating: 0, count: destinations.count), seconds: 0, failure: nil)
        closeTimes = Array(repeating: [], count: destinations.count)
        try Limits.ensureOpenFiles(heldPairs * 2 + destinations.count + 64)
        let made = try namespace.run { () throws -> (listeners: [Int32], held: [Int32]) in
            try Sysctl.set(
                "net/ipv4/ip_local_port_range", to: "\(ephemeralPorts.lowerBound) \(ephemeralPorts.upperBound)")
            var listeners: [Int32] = []
            var held: [Int32] = []
            do {
                for d in destinations { listeners.append(try Self.listener(d.endpoint)) }
                for i in 0..<heldPairs {
                    let index = i % destinations.count
                    let (client, server) = try Self.connect(destinations[index].endpoint, listeners[index])
                    held += [client, server]
                }
            } catch {
                for fd in listeners + held { close(fd) }
                throw error
            }
            return (listeners, held)
        }
        listeners = made.listeners
        held = made.held
        running = true
        let thread = Thread { [self] in
            do {
                try namespace.run { self.loop() }
            } catch {
                lock.withLock { report.failure = report.failure ?? "\(error)" }
            }
            finished.signal()
        }
        thread.start()
    }

    deinit { _ = stop() }

    /// Connections made so far, to all destinations.
    public var made: Int { lock.withLock { report.total } }

    /// Connections closed per destination (in the order given) from `start` to `end` (``now()``'s clock).
    public func closes(from start: Double, to end: Double) -> [Int] {
        lock.withLock { closeTimes.map { times in times.reduce(0) { $0 + (start <= $1 && $1 <= end ? 1 : 0) } } }
    }

    /// The first failure so far, if any (the generator stops at it).
    public var failure: (time: Double, errno: Int32, text: String)? {
        lock.withLock { report.failureTime.map { ($0, report.failureErrno, report.failure ?? "") } }
    }

    /// Stops the churn (waiting at most 10 s for the thread), closes the listeners and held pairs.
    @discardableResult
    public func stop() -> Report {
        let wasRunning = lock.withLock {
            stopping = true
            defer { running = false }
            return running
        }
        if wasRunning && finished.wait(timeout: .now() + 10) == .timedOut {
            lock.withLock { report.failure = report.failure ?? "the generator did not stop within 10 s" }
        }
        let fds = lock.withLock {
            defer {
                listeners = []
                held = []
            }
            return listeners + held
        }
        for fd in fds { close(fd) }
        return lock.withLock { report }
    }

    /// The generator thread, inside the namespace.
    private func loop() {
        let start = Self.now()
        let periods = destinations.map { 1.0 / Double($0.perSecond) }
        // A destination without a rate is never due.
        var due = destinations.map { $0.perSecond > 0 ? start : Double.infinity }
        var total = 0
        var rounds = 0
        while total < limit && rounds < 1_000_000_000 {
            rounds += 1
            let now = Self.now()
            if now - start >= maxSeconds || lock.withLock({ stopping }) { break }
            let i = due.indices.min { due[$0] < due[$1] }!
            if due[i] > now {
                usleep(useconds_t(min(due[i] - now, 0.01) * 1_000_000))
                continue
            }
            if now - due[i] > 1 { due[i] = now }
            do {
                try Self.churnOnce(destinations[i], listeners[i])
            } catch {
                let failed = Self.now()
                lock.withLock {
                    report.failure = "\(destinations[i].endpoint): \(error)"
                    report.failureTime = failed
                    report.failureErrno = (error as? SystemCallError)?.errno ?? 0
                }
                break
            }
            let closed = Self.now()
            due[i] += periods[i]
            total += 1
            lock.withLock {
                report.made[i] += 1
                closeTimes[i].append(closed)
                report.seconds = closed - start
            }
        }
        lock.withLock { report.seconds = Self.now() - start }
    }

    /// One connection to `destination`, accepted and closed in its order.
    private static func churnOnce(_ destination: Destination, _ listener: Int32) throws {
        let (client, server) = try connect(destination.endpoint, listener)
        if destination.bytes > 0 {
            do {
                try transfer(destination.bytes, from: client, to: server)
            } catch {
                close(client)
                close(server)
                throw error
            }
        }
        // The second side closes once the first one's FIN has reached it (bounded): closed before that (the
        // FIN's delivery deferred to ksoftirqd under load), both sides would close at once and both would
        // hold a TIME_WAIT.
        switch destination.close {
        case .clientFirst:
            close(client)
            awaitEndOfFile(server)
            close(server)
        case .serverFirst:
            close(server)
            awaitEndOfFile(client)
            close(client)
        case .reset:
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(client)
            close(server)
        }
    }

    /// Waits (at most 2 s) until `fd` reads end of file or has an error: its peer's FIN has arrived.
    private static func awaitEndOfFile(_ fd: Int32) {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var interrupted = 0
        while poll(&pfd, 1, 2000) < 0 && errno == EINTR && interrupted < 100 { interrupted += 1 }
    }

    /// Sends `count` bytes from `client` and reads them all at `server` (unread data would make the server's
    /// close a reset).
    private static func transfer(_ count: Int, from client: Int32, to server: Int32) throws {
        var buffer = [UInt8](repeating: 0x61, count: min(count, 65536))
        var sent = 0
        var received = 0
        for _ in 0..<100_000 where received < count {
            if sent < count {
                let n = buffer.withUnsafeBytes { write(client, $0.baseAddress, min($0.count, count - sent)) }
                if n < 0 && errno != EINTR && errno != EAGAIN { throw SystemCallError("write") }
                sent += max(0, n)
            }
            let n = buffer.withUnsafeMutableBytes { read(server, $0.baseAddress, min($0.count, count - received)) }
            if n < 0 && errno != EINTR { throw SystemCallError("read") }
            if n == 0 { throw SystemCallError("read: end of stream", errno: 0) }
            received += max(0, n)
        }
    }

    /// A TCP listener on `endpoint` (backlog 1024), in the calling thread's namespace (SO_REUSEADDR: a port of
    /// an earlier test's TIME-WAIT is no obstacle).
    public static func listener(_ endpoint: Endpoint) throws -> Int32 {
        let fd = socket(
            endpoint.address.family == .inet ? AF_INET : AF_INET6,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard endpoint.withSockaddr({ bind(fd, $0, $1) }) == 0, listen(fd, 1024) == 0 else {
            let error = SystemCallError("bind/listen \(endpoint)")
            close(fd)
            throw error
        }
        return fd
    }

    /// A client connected to `endpoint` and the server side accepted from `listener`.
    public static func connect(_ endpoint: Endpoint, _ listener: Int32) throws -> (Int32, Int32) {
        let client = socket(
            endpoint.address.family == .inet ? AF_INET : AF_INET6,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { throw SystemCallError("socket") }
        var rc: Int32
        repeat { rc = endpoint.withSockaddr { Glibc.connect(client, $0, $1) } } while rc < 0 && errno == EINTR
        guard rc == 0 else {
            let error = SystemCallError("connect \(endpoint)")
            close(client)
            throw error
        }
        var server: Int32
        repeat { server = accept(listener, nil, nil) } while server < 0 && errno == EINTR
        guard server >= 0 else {
            let error = SystemCallError("accept \(endpoint)")
            close(client)
            throw error
        }
        return (client, server)
    }

    /// `CLOCK_MONOTONIC` in seconds: the clock of the close stamps and the failure time.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
