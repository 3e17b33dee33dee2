import Foundation
import SockScanTestSupport
import Testing

/// The alert rules and scrape configuration in `contrib/prometheus`, checked by `promtool`.
@Suite("contrib/prometheus")
struct PrometheusContribTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contrib/prometheus")

    @Test func alertRulesAreValid() throws {
        let result = try Promtool.run(["check", "rules", Self.directory.appendingPathComponent("alerts.yml").path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS: 3 rules found"))
    }

    @Test func alertRulesFireAsTheirTestsSay() throws {
        let result = try Promtool.run([
            "test", "rules", Self.directory.appendingPathComponent("alerts_test.yml").path,
        ])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test func scrapeConfigIsValid() throws {
        let result = try Promtool.run([
            "check", "config", Self.directory.appendingPathComponent("prometheus.yml").path,
        ])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }
}
