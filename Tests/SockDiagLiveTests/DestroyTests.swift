import SockDiag
import SockScanTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Destroy events (the sock_diag multicast groups) and SOCK_DESTROY, against connections a helper process
/// makes in a private namespace.
@Suite("Destroy events and kill", .serialized)
struct DestroyTests {
    /// Runs Python inside `namespace` in the background.
    static func python(_ namespace: TestNamespace, _ code: String) throws -> SpawnedProcess {
        let out = try TemporaryOutput()
        return try SpawnedProcess(
            path: try Command.locate("ip"), arguments: ["netns", "exec", namespace.name, "python3", "-c", code],
            stdout: out.fd, stderr: out.fd)
    }

    @Test("every connection that ends is one destroy event per side; a filter keeps the client sides")
    func events() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let all = try SocketEventMonitor(namespace: namespace.namespace)
        let clients = try SocketEventMonitor(
            namespace: namespace.namespace, protocols: .tcp, filter: try Filter(parsing: "dport = :9100"))
        #expect(all.receiveBufferBytes >= 8 << 20)
        // 200 connections closed by the client first, 50 by the server first, then 10 UDP sockets.
        let child = try Self.python(
            namespace,
            """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', 9100)); s.listen(512)
            for i in range(250):
                c = socket.create_connection(('127.0.0.1', 9100)); a, _ = s.accept()
                c.sendall(b'x' * 1000); a.recv(4096)
                first, second = (c, a) if i < 200 else (a, c)
                first.close(); second.close()
            for i in range(10):
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0)); u.close()
            s.close()
            """)
        #expect(child.wait(timeout: 60)?.status == 0)
        var tcp = 0
        var udp = 0
        var withInfo = 0
        var clientBytes: [UInt64] = []
        for _ in 0..<200 where tcp + udp < 511 {
            try all.receive(timeout: .milliseconds(100)) { event in
                #expect(event.socket.state == .close)
                if event.socket.proto == .tcp { tcp += 1 } else { udp += 1 }
                if let info = event.socket.tcpInfo {
                    withInfo += 1
                    if event.socket.remote.port == 9100 { clientBytes.append(info.bytesAcked) }
                }
            }
        }
        // Both sides of 250 connections, and the listener.
        #expect(tcp == 501)
        #expect(udp == 10)
        #expect(withInfo == 501)
        // Each client's final tcp_info: its 1000 bytes acknowledged (the kernel counts SYN and FIN as well).
        #expect(clientBytes.count == 250)
        #expect(clientBytes.allSatisfy { (1000...1002).contains($0) }, "\(Set(clientBytes))")
        var clientSides = 0
        for _ in 0..<50 where clientSides < 250 {
            try clients.receive(timeout: .milliseconds(100)) { event in
                #expect(event.socket.remote.port == 9100)
                clientSides += 1
            }
        }
        #expect(clientSides == 250)
        #expect(all.droppedEvents == 0)
        #expect(clients.droppedEvents == 0)
    }

    @Test("a receive buffer too small for the burst loses events, and the kernel's count of them is exact")
    func overrun() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let small = try SocketEventMonitor(namespace: namespace.namespace, protocols: .udp, receiveBufferBytes: 4096)
        let child = try Self.python(
            namespace,
            """
            import socket
            for i in range(2000):
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0)); u.close()
            """)
        #expect(child.wait(timeout: 60)?.status == 0)
        // The kernel sends destroy events from a work queue after the socket is freed, so they can still be
        // arriving after the child has exited (under load, with gaps): receive until every close is accounted
        // for, bounded at 20 s, then make sure nothing more comes.
        var received = 0
        let deadline = ContinuousClock.now + .seconds(20)
        for _ in 0..<400 where UInt64(received) + small.droppedEvents < 2000 && ContinuousClock.now < deadline {
            try small.receive(timeout: .milliseconds(50)) { _ in received += 1 }
        }
        try small.receive(timeout: .milliseconds(200)) { _ in received += 1 }
        let dropped = small.droppedEvents
        #expect(dropped > 0)
        #expect(UInt64(received) + dropped == 2000)
    }

    @Test("stop() ends a waiting receive and the async sequence")
    func stop() async throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let monitor = try SocketEventMonitor(namespace: namespace.namespace)
        let task = Task { () async throws -> Int in
            var n = 0
            for try await _ in monitor.events() { n += 1 }
            return n
        }
        try await Task.sleep(for: .milliseconds(100))
        monitor.stop()
        #expect(try await task.value == 0)
    }

    @Test("kill closes exactly the sockets the filter lists; their peers see a reset; nothing else changes")
    func kill() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let child = try Self.python(
            namespace,
            """
            import socket, time
            keep = []
            for port, n in ((9200, 20), (9201, 5)):
                s = socket.socket(); s.bind(('127.0.0.1', port)); s.listen(64); keep.append(s)
                for i in range(n):
                    c = socket.create_connection(('127.0.0.1', port)); a, _ = s.accept(); keep += [c, a]
            time.sleep(30)
            """)
        defer { Command.stop(child.pid) }
        let scanner = try Scanner(namespace: namespace.namespace, allowProcFallback: false)
        let established = ScanQuery(protocols: .tcp, states: StateSet(.established))
        func count(_ filter: String) throws -> Int {
            var query = established
            query.filter = try Filter(parsing: filter)
            return try scanner.records(query).count
        }
        // Up to 20 s: python3 starting on a loaded machine.
        for _ in 0..<1000 where try count("dport = :9200 or dport = :9201") < 25 { usleep(20_000) }
        #expect(try count("dport = :9200") == 20)
        var query = established
        query.filter = try Filter(parsing: "dport = :9200")
        let listed = Set(try scanner.records(query).map(\.cookie))
        var killed: Set<UInt64> = []
        let summary = try scanner.kill(try scanner.prepare(query)) { socket, result in
            if case .success = result { killed.insert(socket.cookie) }
        }
        #expect(summary.matched == 20)
        #expect(summary.closed == 20)
        #expect(killed == listed)
        // Gone, and their server ends reset (unhashed); the other upstream untouched.
        #expect(try count("dport = :9200") == 0)
        #expect(try count("sport = :9200") == 0)
        #expect(try count("dport = :9201") == 5)
        #expect(try count("sport = :9201") == 5)
    }
}

/// A temporary file for a child's output.
final class TemporaryOutput {
    let fd: Int32
    init() throws {
        var template = Array("/tmp/sockscan-destroy-XXXXXX".utf8CString)
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if fd >= 0 { template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) } }
        guard fd >= 0 else { throw CommandError("mkstemp failed") }
    }
    deinit { close(fd) }
}
