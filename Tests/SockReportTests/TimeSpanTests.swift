import SockReport
import Testing

@Suite struct TimeSpanTests {
    @Test(
        arguments: [
            ("500ms", 500), ("10s", 10_000), ("1m", 60_000), ("2h", 7_200_000), ("14d", 1_209_600_000), ("1.5s", 1500),
            ("90s", 90_000),
        ] as [(String, Int64)])
    func parses(text: String, milliseconds: Int64) {
        #expect((try? TimeSpan(parsing: text))?.milliseconds == milliseconds)
    }

    @Test(arguments: ["", "10", "s", "10x", "-1s", "0s", "0.1ms", "1e3s", "10 s s", "ten s", "1w"])
    func rejects(text: String) {
        #expect((try? TimeSpan(parsing: text)) == nil)
    }

    @Test func describesShortest() {
        #expect(TimeSpan(milliseconds: 500).description == "500ms")
        #expect(TimeSpan(milliseconds: 90_000).description == "90s")
        #expect(TimeSpan(milliseconds: 120_000).description == "2m")
        #expect(TimeSpan(milliseconds: 1_209_600_000).description == "14d")
    }

    /// Why a text is not a length, as the command line says it.
    @Test(
        arguments: [
            ("0", TimeSpan.Syntax.interval, "must be more than 0"), ("-2", .interval, "must be more than 0"),
            ("1h30m", .interval, "expected a duration like 500ms, 10s, 1m, 2h, 14d (a bare number is seconds)"),
            ("10", .standard, "expected a duration like 500ms, 10s, 1m, 2h, 14d"),
            ("0", .standard, "must be more than 0"),
            ("0.1ms", .standard, "must be at least 1ms"), ("36501d", .standard, "must be at most 100 years (36500d)"),
            ("+5s", .standard, "expected a duration like 500ms, 10s, 1m, 2h, 14d"),
            ("10S", .standard, "expected a duration like 500ms, 10s, 1m, 2h, 14d"),
        ])
    func reasons(text: String, syntax: TimeSpan.Syntax, reason: String) {
        #expect(throws: TimeSpan.ParseError.self) { try TimeSpan(parsing: text, syntax: syntax) }
        do {
            _ = try TimeSpan(parsing: text, syntax: syntax)
        } catch {
            #expect(error.description == reason)
        }
    }

    @Test func bareSecondsForIntervals() throws {
        #expect(try TimeSpan(parsing: "1", syntax: .interval).milliseconds == 1000)
        #expect(try TimeSpan(parsing: "0.2", syntax: .interval).milliseconds == 200)
        #expect(try TimeSpan(parsing: "500ms", syntax: .interval).milliseconds == 500)
    }
}
