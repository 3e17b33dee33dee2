import Foundation
import SockHistory
import SockReport
import Testing

@Suite struct TimeSpanTests {
    @Test(
        arguments: [
            ("500ms", 500), ("10s", 10_000), ("1m", 60_000), ("2h", 7_200_000), ("14d", 1_209_600_000), ("1.5s", 1500),
            ("90s", 90_000),
        ] as [(String, Int64)])
    func parses(text: String, milliseconds: Int64) {
        #expect(TimeSpan(parsing: text)?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "10", "s", "10x", "-1s", "0s", "0.1ms", "1e3s", "10 s s", "ten s", "1w"])
    func rejects(text: String) {
        #expect(TimeSpan(parsing: text) == nil)
    }

    @Test func describesShortest() {
        #expect(TimeSpan(milliseconds: 500).description == "500ms")
        #expect(TimeSpan(milliseconds: 90_000).description == "90s")
        #expect(TimeSpan(milliseconds: 120_000).description == "2m")
        #expect(TimeSpan(milliseconds: 1_209_600_000).description == "14d")
    }
}
