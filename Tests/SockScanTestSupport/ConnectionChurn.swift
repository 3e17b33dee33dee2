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
/// In the namespace: `ip_local_port_range` is widened to 10000–65535 (55,536 ephemeral ports per
/// destination); TIME-WAIT sockets outlive ``stop()`` until the namespace is deleted.
public final class ConnectionChurn: @unchecked Sendable {
    /// Which side closes first.
    public enum CloseOrder: Sendable {
        case clientFirst, serverFirst, reset
    }

    /// A listener to connect to, and how often.
    public struct Destination: Sendable, Hashable {
        public var endpoint: Endpoint
        public var perSecond: Int
        public var close: CloseOrder

        public init(_ endpoint: Endpoint, perSecond: Int, close: CloseOrder = .clientFirst) {
            self.endpoint = endpoint
            self.perSecond = perSecond
            self.close = close
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

    /// Makes the listeners and the held pairs (on a thread inside `namespace`) and starts the churn.
    ///
    /// - Throws: ``SystemCallError`` when a socket call fails (what was made is closed again).
    public init(
        in namespace: TestNamespace, destinations: [Destination], held heldPairs: Int = 0, limit: Int = 1_000_000,
        maxSeconds: Double = 120
    ) throws {
        precondition(destinations.allSatisfy { $0.perSecond > 0 }, "a rate must be positive")
        self.namespace = namespace
        self.destinations = destinations
        self.limit = limit
        self.maxSeconds = maxSeconds
        report = Report(made: Array(repeating: 0, count: destinations.count), seconds: 0, failure: nil)
        try Limits.ensureOpenFiles(heldPairs * 2 + destinations.count + 64)
        let made = try namespace.run { () throws -> (listeners: [Int32], held: [Int32]) in
            try Sysctl.set("net/ipv4/ip_local_port_range", to: "10000 65535")
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
        var due = Array(repeating: start, count: destinations.count)
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
                lock.withLock { report.failure = "\(destinations[i].endpoint): \(error)" }
                break
            }
            due[i] += periods[i]
            total += 1
            lock.withLock {
                report.made[i] += 1
                report.seconds = Self.now() - start
            }
        }
        lock.withLock { report.seconds = Self.now() - start }
    }

    /// One connection to `destination`, accepted and closed in its order.
    private static func churnOnce(_ destination: Destination, _ listener: Int32) throws {
        let (client, server) = try connect(destination.endpoint, listener)
        switch destination.close {
        case .clientFirst:
            close(client)
            close(server)
        case .serverFirst:
            close(server)
            close(client)
        case .reset:
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            close(client)
            close(server)
        }
    }

    /// A listener on `endpoint` (SO_REUSEADDR: a port of an earlier test's TIME-WAIT is no obstacle).
    private static func listener(_ endpoint: Endpoint) throws -> Int32 {
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
    private static func connect(_ endpoint: Endpoint, _ listener: Int32) throws -> (Int32, Int32) {
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

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
