import Foundation
import SockDiag
import SockMetrics
import SockReport
import SockScanTestSupport
import Testing

/// `sockscan metrics` and `sockscan serve` run as a user runs them, on a private namespace holding a
/// known socket mix; all traffic on loopback.
@Suite("metrics and serve, live", .metricsMix)
struct ServeLiveTests {
    @Test func metricsCommandMatchesTheMixAndPassesPromtool() throws {
        let fixture = try MetricsFixture.require()
        let result = try SockscanBinary.run(["metrics", "--netns", fixture.namespace.name, "--top", "100"])
        #expect(result.status == 0, "\(result)")
        let text = try ExpositionText(result.stdout)
        fixture.expectSocketCounts(text)
        #expect(fixture.expected(.tcp, .inet, .timeWait) > 0)
        #expect(fixture.expected(.tcp, .inet6, .established) > 0)
        // sockstat's TIME_WAIT total is the namespace's, both families.
        let timeWait = fixture.mix.expected { $0.proto == .tcp && $0.state == .timeWait }.count
        #expect(text.value("sockscan_sockstat_tcp_time_wait_sockets") == Double(timeWait))
        try expectPorts(text, fixture)
        #expect(text.value("sockscan_build_info", ["version": "0.1.0"]) == 1)
        #expect(text.value("sockscan_kernel_dumps_total") == nil)
        let check = try Promtool.checkMetrics(result.stdout)
        #expect(check.status == 0 && check.stderr.isEmpty, "\(check.stderr)")
    }

    /// Port utilization per destination equals what the mix's outgoing connections hold.
    func expectPorts(_ text: ExpositionText, _ fixture: MetricsFixture) throws {
        let settings = try PortSettings.read(namespace: fixture.namespace.namespace)
        let capacity = settings.range.count - settings.reservedInRange
        #expect(text.value("sockscan_ephemeral_ports_capacity") == Double(capacity))
        var used: [String: Int] = [:]
        for tuple in fixture.mix.expected
        where tuple.proto == .tcp && tuple.state != .listen && tuple.state != .close
            && settings.range.contains(tuple.local.port)
        {
            let d = Destination(
                localAddress: tuple.local.address, remoteAddress: tuple.remote.address, remotePort: tuple.remote.port)
            let key = ExpositionText.key(
                "sockscan_port_utilization_ratio",
                [
                    "local_address": d.localAddress.description, "remote_address": d.remoteAddress.description,
                    "remote_port": String(d.remotePort),
                ])
            used[key, default: 0] += 1
        }
        #expect(!used.isEmpty)
        let exposed = text.samples(named: "sockscan_port_utilization_ratio")
        #expect(exposed == used.mapValues { Double($0) / Double(capacity) })
        #expect(text.value("sockscan_port_destinations") == Double(used.count))
    }

    @Test func metricsTextfileIsWrittenAtomically() throws {
        let fixture = try MetricsFixture.require()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-tf-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sockscan.prom").path
        let result = try SockscanBinary.run(["metrics", "--netns", fixture.namespace.name, "--textfile", path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        fixture.expectSocketCounts(try ExpositionText(written))
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sockscan.prom"])
        // OpenMetrics goes to stdout only.
        let both = try SockscanBinary.run(["metrics", "--textfile", path, "--format", "openmetrics"])
        #expect(both.status == 64)
        // A directory is a usage error that says what to give instead, and nothing is written beside it.
        let onDirectory = try SockscanBinary.run(["metrics", "--textfile", directory.path])
        #expect(onDirectory.status == 64, "\(onDirectory)")
        #expect(onDirectory.stderr.contains("is a directory"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sockscan.prom"])
    }

    @Test func metricsOpenMetricsAndTopZero() throws {
        let fixture = try MetricsFixture.require()
        let result = try SockscanBinary.run([
            "metrics", "--netns", fixture.namespace.name, "--format", "openmetrics", "--top", "0",
        ])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.hasSuffix("# EOF\n"))
        #expect(result.stdout.contains("# TYPE sockscan_build info\n"))
        #expect(!result.stdout.contains("sockscan_port_utilization_ratio"))
        fixture.expectSocketCounts(try ExpositionText(result.stdout))
    }

    @Test func serveMatchesTheMixInBothFormats() throws {
        let fixture = try MetricsFixture.require()
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
        let fixture = try MetricsFixture.require()
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
        let fixture = try MetricsFixture.require()
        let server = try ServeProcess(["--netns", fixture.namespace.name, "--cache", "30s"])
        defer { server.background.stop() }
        for _ in 0..<20 { _ = try server.metrics() }
        #expect(try server.metrics().value("sockscan_scans_total") == 1)
    }

    @Test func slowClientsDoNotBlockOthers() throws {
        let fixture = try MetricsFixture.require()
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
        let fixture = try MetricsFixture.require()
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
        let fixture = try MetricsFixture.require()
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
        let fixture = try MetricsFixture.require()
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
}
