import Foundation
import SockDiag
import SockMetrics
import SockReport
import SockScanTestSupport
import Testing

/// `sockscan serve` run as a user runs it, on a private namespace holding a known socket mix; all traffic
/// on loopback.
@Suite("serve", .cliMix(extraPairs: 0), .serialized)
struct ServeCommandTests {
    @Test func serveMatchesTheMixInBothFormats() throws {
        let fixture = try CLIFixture.require()
        let server = try ServeProcess(["--netns", fixture.namespace.name, "--top", "100"])
        defer { server.background.stop() }
        let plain = try server.get()
        #expect(plain.status == 200)
        #expect(plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let text = try ExpositionText(plain.body)
        fixture.expectSocketCounts(text)
        try expectPorts(text, fixture)
        #expect(text.value("sockscan_kernel_dumps_total").map { $0 >= 2 } == true)
        let check = try Promtool.checkMetrics(plain.body)
        #expect(check.status == 0 && check.stderr.isEmpty, "\(check.stderr)")

        let open = try server.get(headers: ["Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"])
        #expect(open.status == 200)
        #expect(open.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(open.body.hasSuffix("# EOF\n"))
        #expect(open.body.contains("# TYPE sockscan_kernel_dumps counter\n"))
        // Within the 1 s cache both answers come from one scan: the same samples.
        let openText = try ExpositionText(open.body)
        fixture.expectSocketCounts(openText)

        let health = try server.get("/healthz")
        #expect(health.status == 200 && health.body == "ok\n")
        #expect(try server.get("/nope").status == 404)
        #expect(try TestHTTP.get(port: server.port, path: "/metrics", method: "POST").status == 405)
        let head = try TestHTTP.get(port: server.port, path: "/metrics", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(server.background.stop() == 0)
    }

    @Test func hundredConcurrentScrapesShareScans() throws {
        let fixture = try CLIFixture.require()
        // No cache: only coalescing can keep the number of scans down.
        let server = try ServeProcess(["--netns", fixture.namespace.name, "--cache", "0"])
        defer { server.background.stop() }
        let before = try server.metrics()
        let scansBefore = try #require(before.value("sockscan_scans_total"))
        let dumpsBefore = try #require(before.value("sockscan_kernel_dumps_total"))

        // 100 connections, each with a request written before any answer is read.
        let started = Date()
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        for _ in 0..<100 { sockets.append(try TestHTTP.connect(port: server.port, timeout: 20)) }
        for fd in sockets { try TestHTTP.send(fd, TestHTTP.request("/metrics", port: server.port)) }
        var answered = 0
        for fd in sockets {
            let reply = try TestHTTP.parse(try TestHTTP.readAll(fd))
            #expect(reply.status == 200)
            let text = try ExpositionText(reply.body)
            #expect(
                text.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "time-wait"])
                    == Double(fixture.expected(.tcp, .inet, .timeWait)))
            answered += 1
        }
        #expect(answered == 100)
        #expect(Date().timeIntervalSince(started) < 20)

        let after = try server.metrics()
        let scans = try #require(after.value("sockscan_scans_total")) - scansBefore
        let dumps = try #require(after.value("sockscan_kernel_dumps_total")) - dumpsBefore
        // 101 requests (the 100 and this one); each scan sends a few dump requests.
        #expect(scans >= 1 && scans <= 25, "scans: \(scans)")
        print("100 concurrent scrapes: \(scans) scans, \(dumps) kernel dump requests")
        #expect(dumps <= scans * 8, "dumps: \(dumps) for \(scans) scans")
    }

    @Test func cacheServesOneScanToManyScrapes() throws {
        let fixture = try CLIFixture.require()
        let server = try ServeProcess(["--netns", fixture.namespace.name, "--cache", "30s"])
        defer { server.background.stop() }
        for _ in 0..<20 { _ = try server.metrics() }
        #expect(try server.metrics().value("sockscan_scans_total") == 1)
    }

    @Test func slowClientsDoNotBlockOthers() throws {
        let fixture = try CLIFixture.require()
        let server = try ServeProcess(["--netns", fixture.namespace.name])
        defer { server.background.stop() }
        // One client stops halfway through its request; another asks and never reads.
        let stalled = try TestHTTP.connect(port: server.port)
        defer { close(stalled) }
        try TestHTTP.send(stalled, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc")
        let deaf = try TestHTTP.connect(port: server.port)
        defer { close(deaf) }
        try TestHTTP.send(deaf, String(repeating: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", count: 50))
        let started = Date()
        for _ in 0..<5 {
            let reply = try TestHTTP.get(port: server.port, path: "/metrics", timeout: 3)
            #expect(reply.status == 200)
        }
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func sigtermShutsDownGracefully() throws {
        let fixture = try CLIFixture.require()
        let server = try ServeProcess(["--netns", fixture.namespace.name])
        defer { server.background.stop(SIGKILL) }
        // An idle keep-alive connection must not hold the shutdown up.
        let idle = try TestHTTP.connect(port: server.port, timeout: 5)
        defer { close(idle) }
        try TestHTTP.send(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(buffer.withUnsafeMutableBytes { recv(idle, $0.baseAddress, $0.count, 0) } > 0)
        let started = Date()
        let status = server.background.stop(SIGTERM, grace: 5)
        #expect(status == 0, "\(server.background.stderr)")
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(server.background.stderr.contains("shutting down"))
        // The server closed the idle connection.
        #expect(buffer.withUnsafeMutableBytes { recv(idle, $0.baseAddress, $0.count, 0) } == 0)
        #expect(throws: (any Error).self) { try TestHTTP.connect(port: server.port, timeout: 1) }
    }

    /// A SIGTERM at any moment of the start (opening the namespace, binding) ends the process: exit 0
    /// once `serve` runs, or the default action's 143 if it came before `serve` ran at all; never lost.
    @Test func sigtermDuringStartIsNotLost() throws {
        let fixture = try CLIFixture.require()
        let arguments = ["serve", "--netns", fixture.namespace.name, "--listen", "127.0.0.1:0"]
        // How long a start takes here, so the signals below fall before, during and after it.
        let probe = try BackgroundProcess(SockscanBinary.path, arguments)
        let started = Date()
        _ = try probe.waitForLine(containing: "serving http://")
        let startup = Date().timeIntervalSince(started)
        #expect(probe.stop(SIGTERM, grace: 5) == 0, "\(probe.stderr)")
        let steps = 30
        var statuses: [Int32: Int] = [:]
        for step in 0...steps {
            let server = try BackgroundProcess(SockscanBinary.path, arguments)
            usleep(UInt32(startup * 2 * 1e6 * Double(step) / Double(steps)))
            let status = server.stop(SIGTERM, grace: 5)
            #expect(
                status == 0 || status == 128 + SIGTERM, "step \(step): \(String(describing: status)) \(server.stderr)")
            statuses[status ?? -1, default: 0] += 1
        }
        print("SIGTERM during a \(Int(startup * 1000)) ms start: exit statuses \(statuses)")
    }

    @Test(arguments: ["nonsense", "127.0.0.1", ":9464", "127.0.0.1:70000", "example.com:80", "[::1]"])
    func badListenIsAUsageError(listen: String) throws {
        let result = try SockscanBinary.run(["serve", "--listen", listen])
        #expect(result.status == 64, "\(result)")
        #expect(result.stderr.contains("--listen"), "\(result.stderr)")
        #expect(result.stderr.contains(listen), "\(result.stderr)")
    }

    @Test func badOptionsAreUsageErrors() throws {
        #expect(try SockscanBinary.run(["serve", "--cache", "soon"]).status == 64)
        #expect(try SockscanBinary.run(["serve", "--top", "-1"]).status == 64)
        #expect(try SockscanBinary.run(["serve", "--max-connections", "0"]).status == 64)
        #expect(try SockscanBinary.run(["serve", "--max-connections", "many"]).status == 64)
        #expect(try SockscanBinary.run(["metrics", "--top", "5000"]).status == 64)
    }

    @Test func nonLoopbackNeedsToBeExplicitAndWarns() throws {
        let fixture = try CLIFixture.require()
        // Inside a private namespace only lo exists, so 0.0.0.0 is still reachable from this host only.
        // A namespace of its own: its listener must not show up in the counts the other tests check.
        let isolated = try TestNamespace()
        defer { isolated.close() }
        let server = try ServeProcess([], listen: "0.0.0.0:0", via: ["ip", "netns", "exec", isolated.name])
        defer { server.background.stop() }
        #expect(server.background.stderr.contains("warning: listening on 0.0.0.0:"))
        let quiet = try ServeProcess(["--netns", fixture.namespace.name])
        defer { quiet.background.stop() }
        #expect(!quiet.background.stderr.contains("warning"))
        #expect(quiet.background.stderr.contains("serving http://127.0.0.1:"))
    }

    /// `serve --netns PID` once the process has exited: the namespace is reported gone (healthz 503 with the
    /// reason, `sockscan_namespace_up 0`, no socket series), never as a healthy namespace without sockets.
    @Test func serveReportsANamespaceGoneByPid() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let listener = try namespace.loopbackListener(port: 7300)
        defer { close(listener) }
        let holder = try NamespaceHolder(in: namespace)
        let served = try ServeProcess(["--netns", "\(holder.pid)", "--cache", "0"])
        defer { served.background.stop() }

        let before = try served.metrics()
        #expect(before.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "listen"]) == 1)
        #expect(before.value("sockscan_namespace_up") == 1)
        #expect(try served.get("/healthz").status == 200)

        holder.exit()
        let reason = "network namespace /proc/\(holder.pid)/ns/net is gone: process \(holder.pid) has exited"
        let health = try served.get("/healthz")
        #expect(health.status == 503)
        #expect(health.body == "sockscan: \(reason)\n")
        for openMetrics in [false, true] {
            let after = try served.metrics(openMetrics: openMetrics)
            #expect(after.value("sockscan_namespace_up") == 0)
            // Absent, not zero: a dashboard shows a gap, not an empty namespace.
            #expect(after.samples(named: "sockscan_sockets").isEmpty)
            #expect(after.value("sockscan_sockstat_sockets_used") == nil)
            #expect(after.value("sockscan_ephemeral_ports_capacity") == nil)
            #expect(after.value("sockscan_build_info", ["version": "0.1.0"]) == 1)
        }
        // Once only on stderr, not per scrape.
        _ = try served.metrics()
        #expect(served.background.stderr.components(separatedBy: reason).count == 2, "\(served.background.stderr)")
        let check = try Promtool.checkMetrics(try served.get("/metrics").body)
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func serveReportsANamespaceDeletedByName() throws {
        let name = "\(TestNamespace.namePrefix)\(getpid())-gone"
        _ = try? Command.run("ip", ["netns", "delete", name])
        try Command.check("ip", ["netns", "add", name])
        defer { _ = try? Command.run("ip", ["netns", "delete", name]) }
        let served = try ServeProcess(["--netns", name, "--cache", "0"])
        defer { served.background.stop() }
        #expect(try served.metrics().value("sockscan_namespace_up") == 1)
        try Command.check("ip", ["netns", "delete", name])
        let health = try served.get("/healthz")
        #expect(health.status == 503)
        #expect(
            health.body
                == "sockscan: network namespace /run/netns/\(name) is gone: it was deleted (ip netns delete \(name))\n")
        #expect(try served.metrics().value("sockscan_namespace_up") == 0)
    }

    @Test("serve on a port in use: exit 1, 'cannot listen on ADDRESS: Address already in use'")
    func servePortInUse() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let result = try SockscanBinary.run(["serve", "--listen", "127.0.0.1:\(port)"], timeout: 20)
        #expect(result.status == 1, "\(result)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.last == "sockscan: cannot listen on 127.0.0.1:\(port): Address already in use", "\(result)")
    }
}
