import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// A real Prometheus server (Debian's package; loopback only, a temporary data directory, a 1 s scrape
/// interval) scrapes `sockscan serve --netns NAME`; PromQL over its HTTP API must return what the
/// namespace holds. Both processes are ended however the test ends.
@Suite("Prometheus scrapes sockscan serve", .cliMix(extraPairs: 0))
struct PrometheusIntegrationTests {
    @Test(.timeLimit(.minutes(2))) func promQLReturnsTheNamespaceCounts() throws {
        let fixture = try CLIFixture.require()
        let prometheusBinary = try #require(
            try? Command.locate("prometheus"),
            "prometheus is missing: run scripts/setup-test (apt-get install prometheus)")
        let server = try ServeProcess(["--netns", fixture.namespace.name, "--cache", "0"])
        defer { server.background.stop() }

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-prom-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: sockscan
                static_configs:
                  - targets: ['127.0.0.1:\(server.port)']
            """
        let configPath = directory.appendingPathComponent("prometheus.yml").path
        try Data(config.utf8).write(to: URL(fileURLWithPath: configPath))
        let apiPort = try TestHTTP.freePort()
        let prometheus = try BackgroundProcess(
            prometheusBinary,
            [
                "--config.file=\(configPath)",
                "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(apiPort)",
                "--log.level=warn",
            ])
        defer { prometheus.stop(SIGTERM, grace: 5) }

        let timeWait = fixture.expected(.tcp, .inet, .timeWait) + fixture.expected(.tcp, .inet6, .timeWait)
        let established = fixture.expected(.tcp, .inet, .established) + fixture.expected(.tcp, .inet6, .established)
        #expect(timeWait > 0 && established > 0)

        // Poll until the first scrapes are in (bounded: 75 s; a cold start of Debian's Go binaries took up to
        // 23 s on a loaded CI machine).
        let deadline = Date().addingTimeInterval(75)
        var value: Double?
        var last = ""
        for _ in 0..<750 where Date() < deadline && value == nil {
            usleep(100_000)
            guard prometheus.isRunning else { break }
            guard let reply = try? query(#"sum(sockscan_sockets{proto="tcp",state="time-wait"})"#, port: apiPort)
            else { continue }
            last = reply.body
            value = try? Self.scalar(reply.body)
        }
        #expect(prometheus.isRunning, "prometheus exited: \(prometheus.stderr)")
        #expect(value == Double(timeWait), "last answer: \(last); prometheus: \(prometheus.stderr)")

        let estab = try Self.scalar(
            try query(#"sum(sockscan_sockets{proto="tcp",state="established"})"#, port: apiPort).body)
        #expect(estab == Double(established))
        #expect(try Self.scalar(try query(#"up{job="sockscan"}"#, port: apiPort).body) == 1)
        // A unit is only known from OpenMetrics' # UNIT line: Prometheus negotiated OpenMetrics.
        let metadata = try TestHTTP.get(
            port: apiPort, path: "/api/v1/targets/metadata?metric=sockscan_scrape_duration_seconds")
        #expect(metadata.body.contains(#""unit":"seconds""#), "\(metadata.body)")
    }

    func query(_ promQL: String, port: Int) throws -> HTTPReply {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = promQL.addingPercentEncoding(withAllowedCharacters: allowed)!
        let reply = try TestHTTP.get(port: port, path: "/api/v1/query?query=\(encoded)", timeout: 5)
        guard reply.status == 200 else { throw CommandError("query \(promQL): \(reply.status) \(reply.body)") }
        return reply
    }

    /// The value of a one-element vector answer: `{"data":{"result":[{"value":[t,"3"]}]}}`.
    static func scalar(_ body: String) throws -> Double {
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let data = json?["data"] as? [String: Any]
        let result = data?["result"] as? [[String: Any]] ?? []
        guard result.count == 1, let pair = result[0]["value"] as? [Any], pair.count == 2,
            let text = pair[1] as? String, let value = Double(text)
        else { throw CommandError("no single value in \(body)") }
        return value
    }
}
