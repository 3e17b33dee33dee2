import Foundation
import SockFormat
import SockHistory
import SockReport
import Testing

@Suite struct ReportTimeTests {
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    /// 2026-05-01 10:00:00 UTC, 12:00 in Berlin (CEST, +02:00).
    let now = Date(timeIntervalSince1970: 1_777_629_600)

    func parse(_ text: String) -> Double? {
        ReportTime.parse(text, now: now, timeZone: berlin)?.timeIntervalSince1970
    }

    @Test func clockIsTodayLocal() {
        #expect(parse("14:25") == Double(1_777_629_600 + 2 * 3600 + 25 * 60))
        #expect(parse("00:00:30") == Double(1_777_629_600 - 12 * 3600 + 30))
    }

    @Test func iso8601() {
        #expect(parse("2026-05-01T12:00:00Z") == 1_777_636_800)
        #expect(parse("2026-05-01T12:00:00.250Z") == 1_777_636_800.25)
        #expect(parse("2026-05-01T14:00:00+02:00") == 1_777_636_800)
        #expect(parse("2026-05-01T14:00+0200") == 1_777_636_800)
        #expect(parse("2026-05-01T07:00:00-05") == 1_777_636_800)
        // No zone: local time.
        #expect(parse("2026-05-01T14:00:00") == 1_777_636_800)
        #expect(parse("2026-05-01 14:00") == 1_777_636_800)
        #expect(parse("2026-05-01") == Double(1_777_636_800 - 14 * 3600))
    }

    @Test(arguments: [
        "", "1425", "25:00", "14:60", "14:5", "2026-02-30", "2026-13-01T00:00", "2026-05-01T14", "yesterday",
        "2026-05-01T14:00:00+2:00", "2026-05-01X14:00", "14:00:00.", "2026-05-01T14:00:00+25:00",
    ])
    func rejects(text: String) {
        #expect(parse(text) == nil, "\(text)")
    }

    /// What `report --format json` writes parses back to the same instant.
    @Test func formatterRoundTrips() {
        let time = 1_777_636_812.25
        let text = HistoryFormatter.iso8601(time)
        #expect(text == "2026-05-01T12:00:12.250Z")
        #expect(ReportTime.parse(text)?.timeIntervalSince1970 == time)
    }
}
