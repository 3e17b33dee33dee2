import Foundation
import SockMetrics
import SockScanTestSupport
import SockServe
import Testing

/// A ``MetricsServer`` in this process, over an exporter whose collections the test controls.
final class InProcessServer: @unchecked Sendable {
    let server: MetricsServer
    let exporter: MetricsExporter
    var port: Int { server.address.port ?? 0 }

    /// - Parameter collect: runs on the exporter's collecting thread for each collection.
    init(
        maxAge: Duration = .zero, limits: MetricsServer.Limits = .init(),
        collect: @escaping () throws -> SocketSnapshot = { SocketSnapshot() }
    ) throws {
        exporter = try MetricsExporter(top: 0, maxAge: maxAge, version: "test", collect: collect)
        do {
            server = try MetricsServer(host: "127.0.0.1", port: 0, exporter: exporter, limits: limits)
        } catch {
            exporter.shutdown()
            throw error
        }
    }

    func get(_ path: String) throws -> HTTPReply { try TestHTTP.get(port: port, path: path, timeout: 5) }

    /// Retries `get` (a connection the server closed unanswered, while it is at its limit) for at most
    /// `timeout` seconds.
    func eventuallyGet(_ path: String, timeout: Double = 5) throws -> HTTPReply {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                return try get(path)
            } catch {
                if Date() > deadline { throw error }
                usleep(20_000)
            }
        }
    }
}

/// What this process writes to fd 2 while it is captured; written through to the real stderr afterwards.
final class StderrCapture {
    private let saved: Int32
    private let path: String

    init() throws {
        var template = Array("/tmp/sockscan-stderr-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError("mkstemp") }
        defer { close(fd) }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        saved = dup(2)
        guard saved >= 0, dup2(fd, 2) >= 0 else { throw SystemCallError("dup2 stderr") }
    }

    /// Restores stderr and returns what was written meanwhile.
    func finish() -> String {
        dup2(saved, 2)
        close(saved)
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        unlink(path)
        FileHandle.standardError.write(Data(text.utf8))
        return text
    }
}

@Suite("MetricsServer in process")
struct MetricsServerTests {
    /// Shutdown while a scan runs longer than the grace period and a scrape waits for it: the scrape
    /// gets its answer, then the loop stops; no completion reaches a dead event loop (NIO reports that
    /// on stderr, and says it will become a crash).
    @Test func shutdownDuringAScanAnswersTheWaitingScrape() throws {
        let gate = Gate()
        let served = try InProcessServer {
            gate.pass()
            return SocketSnapshot()
        }
        let fd = try TestHTTP.connect(port: served.port, timeout: 10)
        defer { close(fd) }
        try TestHTTP.send(fd, TestHTTP.request("/metrics", port: served.port))
        #expect(gate.waitForArrivals(1))

        let capture = try StderrCapture()
        // The scan ends while shutdown is under way, after the grace period.
        Thread.detachNewThread {
            usleep(500_000)
            gate.release()
        }
        served.server.shutdown(grace: .milliseconds(100))
        let stderr = capture.finish()
        #expect(!stderr.contains("Cannot schedule tasks"), "\(stderr)")
        let reply = try TestHTTP.parse(try TestHTTP.readAll(fd))
        #expect(reply.status == 200)
        #expect(reply.body.contains("sockscan_build_info"))
    }

    /// `/healthz` follows the last collection: ok before any, 503 with the error after a failure, ok again
    /// after a success.
    @Test func healthzReflectsTheLastCollection() throws {
        nonisolated(unsafe) var fail = true
        let served = try InProcessServer {
            if fail { throw ScanFailure() }
            return SocketSnapshot()
        }
        defer { served.server.shutdown() }
        let first = try served.get("/healthz")
        #expect(first.status == 200 && first.body == "ok\n")
        #expect(try served.get("/metrics").status == 500)
        let failing = try served.get("/healthz")
        #expect(failing.status == 503)
        #expect(failing.body == "sockscan: last scan failed: sock_diag: Operation not permitted\n")
        fail = false
        #expect(try served.get("/metrics").status == 200)
        let healed = try served.get("/healthz")
        #expect(healed.status == 200 && healed.body == "ok\n")
    }
}

struct ScanFailure: Error, CustomStringConvertible {
    var description: String { "sock_diag: Operation not permitted" }
}

/// Reads what the peer sends until it closes: nil when the connection was still open after `timeout`
/// seconds (the receive timeout set at connect), else the bytes read (a reset counts as a close).
func readUntilClosed(_ fd: Int32) -> [UInt8]? {
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            data += chunk[0..<n]
        } else if n == 0 || errno == ECONNRESET {
            return data
        } else if errno != EINTR {
            return nil
        }
    }
}

@Suite("MetricsServer limits")
struct MetricsServerLimitTests {
    /// At `maxConnections`, a new connection is taken and the one that has waited longest for its request
    /// head gives way (a silent or slow client), so a scrape gets through at once.
    @Test func atTheLimitTheOldestHeadWaiterGivesWay() throws {
        var limits = MetricsServer.Limits()
        limits.maxConnections = 4
        let served = try InProcessServer(limits: limits)
        defer { served.server.shutdown() }
        var silent: [Int32] = []
        defer { for fd in silent { close(fd) } }
        for _ in 0..<4 {
            silent.append(try TestHTTP.connect(port: served.port, timeout: 5))
            // Accepted in this order: each is answered (a head begun) before the next connects.
            try TestHTTP.send(silent.last!, "GET /healthz HTTP/1.1\r\n")
        }
        #expect(try served.get("/healthz").status == 200)
        // The first one was closed to make room, unanswered.
        #expect(readUntilClosed(silent[0]) == [])
        // The others are still open: the rest of a head is answered.
        for fd in silent[1...] {
            try TestHTTP.send(fd, "Host: x\r\nConnection: close\r\n\r\n")
            #expect(try TestHTTP.parse(try TestHTTP.readAll(fd)).status == 200)
        }
    }

    /// Idle keep-alive connections give way before a connection still sending its head, the longest idle
    /// first.
    @Test func idleConnectionsGiveWayFirst() throws {
        var limits = MetricsServer.Limits()
        limits.maxConnections = 4
        let served = try InProcessServer(limits: limits)
        defer { served.server.shutdown() }
        let slow = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(slow) }
        try TestHTTP.send(slow, "GET /healthz HTTP/1.1\r\n")
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<3 {
            let fd = try TestHTTP.connect(port: served.port, timeout: 5)
            idle.append(fd)
            try TestHTTP.send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } > 0)
        }
        #expect(try served.get("/healthz").status == 200)
        #expect(readUntilClosed(idle[0]) == [])
        // The slow one is still there, and answered when its head is complete; so are the later idle ones.
        try TestHTTP.send(slow, "Host: x\r\nConnection: close\r\n\r\n")
        #expect(try TestHTTP.parse(try TestHTTP.readAll(slow)).status == 200)
        for fd in idle[1...] {
            try TestHTTP.send(fd, TestHTTP.request("/healthz", port: served.port))
            let reply = try #require(readUntilClosed(fd))
            #expect(String(decoding: reply, as: UTF8.self).hasPrefix("HTTP/1.1 200 OK"))
        }
    }

    /// A connection whose request is being answered never gives way: when every one is, a new connection
    /// is closed unread; a scrape gets in once one is answered.
    @Test func connectionsBeingAnsweredAreNotClosed() throws {
        var limits = MetricsServer.Limits()
        limits.maxConnections = 1
        let gate = Gate()
        let served = try InProcessServer(limits: limits) {
            gate.pass()
            return SocketSnapshot()
        }
        defer { served.server.shutdown() }
        let busy = try TestHTTP.connect(port: served.port, timeout: 10)
        defer { close(busy) }
        try TestHTTP.send(busy, TestHTTP.request("/metrics", port: served.port))
        #expect(gate.waitForArrivals(1))
        let excess = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(excess) }
        try TestHTTP.send(excess, TestHTTP.request("/healthz", port: served.port))
        #expect(readUntilClosed(excess) == [])
        gate.release()
        #expect(try TestHTTP.parse(try TestHTTP.readAll(busy)).status == 200)
        #expect(try served.eventuallyGet("/metrics").status == 200)
    }

    /// A connection that sends no request, or only part of a head, is closed after `headTimeout`; one
    /// idle between requests is not.
    @Test func headsMustArriveInTime() throws {
        var limits = MetricsServer.Limits()
        limits.headTimeout = .milliseconds(300)
        let served = try InProcessServer(limits: limits)
        defer { served.server.shutdown() }
        let silent = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(silent) }
        let trickle = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(trickle) }
        let keepAlive = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(keepAlive) }
        let started = Date()
        try TestHTTP.send(trickle, "GET /metrics HTTP/1.1\r\nHo")
        try TestHTTP.send(keepAlive, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(buffer.withUnsafeMutableBytes { recv(keepAlive, $0.baseAddress, $0.count, 0) } > 0)

        #expect(readUntilClosed(silent) == [])
        #expect(readUntilClosed(trickle) == [])
        #expect(Date().timeIntervalSince(started) < 4)
        // Idle after a complete request, past the head timeout: still served.
        usleep(600_000)
        try TestHTTP.send(keepAlive, TestHTTP.request("/healthz", port: served.port))
        #expect(try TestHTTP.parse(try TestHTTP.readAll(keepAlive)).status == 200)
    }

    /// A body announced over the limit is refused at once: 413, then close.
    @Test func announcedBodyOverTheLimitIsRefused() throws {
        let served = try InProcessServer()
        defer { served.server.shutdown() }
        let fd = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(fd) }
        try TestHTTP.send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        let reply = try TestHTTP.parse(try #require(readUntilClosed(fd)))
        #expect(reply.status == 413)
        #expect(reply.headers["connection"] == "close")
    }

    /// A client streaming an endless chunked body is cut off after `maxBodyBytes`, though it never
    /// stops sending (which would keep the idle timer from ever firing).
    @Test func endlessBodyIsCutOff() throws {
        let served = try InProcessServer()
        defer { served.server.shutdown() }
        let fd = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(fd) }
        try TestHTTP.send(fd, "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = "400\r\n" + String(repeating: "x", count: 1024) + "\r\n"
        var sent = 0
        // Bounded: 16 MiB at most; the server closes long before (a reset then fails the send).
        while sent < 16 << 20, (try? TestHTTP.send(fd, chunk)) != nil { sent += 1024 }
        #expect(sent < 16 << 20, "the server read \(sent) bytes of body and did not close")
        #expect(readUntilClosed(fd) != nil)
    }

    /// A request head over `maxHeadBytes` is answered 400 and closed.
    @Test func oversizedHeadIsRefused() throws {
        let served = try InProcessServer()
        defer { served.server.shutdown() }
        let fd = try TestHTTP.connect(port: served.port, timeout: 5)
        defer { close(fd) }
        let filler = String(repeating: "a", count: 16 * 1024)
        try? TestHTTP.send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n")
        let data = try #require(readUntilClosed(fd))
        if !data.isEmpty { #expect(try TestHTTP.parse(data).status == 400) }
    }
}
