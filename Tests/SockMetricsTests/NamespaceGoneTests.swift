import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `serve --netns PID` once the process has exited: the namespace is reported gone (healthz 503 with the
/// reason, `sockscan_namespace_up 0`, no socket series), never as a healthy namespace without sockets.
@Suite("serve: namespace gone", .serialized)
struct NamespaceGoneTests {
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

    /// Without --netns the namespace is the process's own: always up.
    @Test func metricsWithoutNetnsIsUp() throws {
        let result = try SockscanBinary.run(["metrics", "--top", "0"])
        #expect(result.status == 0, "\(result)")
        #expect(try ExpositionText(result.stdout).value("sockscan_namespace_up") == 1)
    }
}
