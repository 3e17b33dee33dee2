import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Connections held open against `sockscan serve` to take every slot of `--max-connections`: idle
/// keep-alive connections (each asked `/healthz` once) and slowloris connections (a request head begun and
/// never finished, one more byte now and then). A thread keeps them open: whatever the server closes is
/// opened again at the next round.
final class ConnectionAttack: @unchecked Sendable {
    private enum Kind { case idle, slow }

    private let port: Int
    private let lock = NSLock()
    private var connections: [(fd: Int32, kind: Kind)] = []
    private var stopping = false
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)
    /// Connections the server closed that were opened again.
    private(set) var reopened = 0

    init(port: Int) { self.port = port }

    deinit {
        for connection in connections { close(connection.fd) }
    }

    /// Opens `idle` keep-alive connections (each answered one `GET /healthz`) and `slow` connections that
    /// send part of a head.
    func open(idle: Int, slow: Int) throws {
        for _ in 0..<idle { connections.append((try openIdle(), .idle)) }
        for _ in 0..<slow { connections.append((try openSlow(), .slow)) }
    }

    private func openIdle() throws -> Int32 {
        let fd = try TestHTTP.connect(port: port, timeout: 10)
        do {
            try TestHTTP.send(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            // The answer, or the close of an evicted connection; either way it is read.
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private func openSlow() throws -> Int32 {
        let fd = try TestHTTP.connect(port: port, timeout: 10)
        try? TestHTTP.send(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        return fd
    }

    /// Starts the thread that keeps the connections open (at most `rounds` rounds, 50 ms apart).
    func start(rounds: Int = 2_000) {
        let thread = Thread { [self] in
            for _ in 0..<rounds {
                if lock.withLock({ stopping }) { break }
                round()
                usleep(50_000)
            }
            done.signal()
        }
        self.thread = thread
        thread.start()
    }

    /// Stops the thread and waits for it.
    func stop() {
        guard thread != nil else { return }
        lock.withLock { stopping = true }
        done.wait()
        thread = nil
    }

    /// Reopens what the server closed (a read that finds data or the end: the server sends nothing
    /// unasked), and trickles one byte on each slow connection.
    private func round() {
        var polled = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        _ = poll(&polled, nfds_t(polled.count), 0)
        for i in connections.indices {
            if polled[i].revents != 0 {
                close(connections[i].fd)
                guard let fd = try? (connections[i].kind == .idle ? openIdle() : openSlow()) else { continue }
                connections[i].fd = fd
                reopened += 1
            } else if connections[i].kind == .slow {
                var byte = UInt8(ascii: "a")
                _ = send(connections[i].fd, &byte, 1, Int32(MSG_NOSIGNAL))
            }
        }
    }
}

@Suite("serve under connection attacks", .serialized)
struct ServeAttackTests {
    /// 256 idle keep-alive connections and 500 slowloris connections, kept open by a thread, against a
    /// server allowing 256: every real scrape is answered, with the namespace's sockets, while they run.
    @Test func scrapesSucceedWhileIdleAndSlowConnectionsFillTheLimit() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let listener = try namespace.loopbackListener(port: 7302)
        defer { close(listener) }
        let served = try ServeProcess(["--netns", namespace.name, "--cache", "0", "--max-connections", "256"])
        defer { served.background.stop() }

        let attack = ConnectionAttack(port: served.port)
        try attack.open(idle: 256, slow: 500)
        attack.start()
        defer { attack.stop() }
        var answered = 0
        for _ in 0..<40 {
            let reply = try TestHTTP.get(port: served.port, path: "/metrics", timeout: 10)
            #expect(reply.status == 200)
            let text = try ExpositionText(reply.body)
            #expect(text.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "listen"]) == 1)
            answered += 1
            usleep(50_000)
        }
        attack.stop()
        #expect(answered == 40)
        // The attack was on: the server made room by closing its connections, and they came back.
        #expect(attack.reopened > 0)
        print("ServeAttackTests: \(attack.reopened) connections reopened after the server closed them")
        // SIGTERM with the attack's connections still open (slow heads among them): a clean exit.
        #expect(served.background.stop() == 0, "\(served.background.stderr)")
    }
}
