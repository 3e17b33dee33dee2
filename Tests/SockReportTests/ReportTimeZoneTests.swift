import Foundation
import SockReport
import Testing

/// Local time without Foundation, checked against Foundation's calendar.
@Suite struct ReportTimeZoneTests {
    static let times: [Double] = [0, 1_777_629_600, 1_777_629_600.999, 1_711_846_800 - 1, 1_711_846_800, 4_102_444_799]

    static func foundation(_ time: Double, _ zone: TimeZone) -> CalendarTime {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: time.rounded(.down)))
        return CalendarTime(
            year: c.year!, month: c.month!, day: c.day!, hour: c.hour!, minute: c.minute!, second: c.second!)
    }

    @Test(arguments: [0, 19_800, -18_000, 45_900])
    func fixedOffsets(seconds: Int) {
        let zone = ReportTimeZone.fixed(secondsEast: seconds)
        for time in Self.times {
            #expect(zone.calendarTime(time) == Self.foundation(time, TimeZone(secondsFromGMT: seconds)!), "\(time)")
            #expect(zone.offset(at: time) == seconds)
        }
    }

    @Test func systemZoneAsFoundationSeesIt() {
        for time in Self.times {
            #expect(ReportTimeZone.system.calendarTime(time) == Self.foundation(time, .current), "\(time)")
            #expect(
                ReportTimeZone.system.offset(at: time)
                    == TimeZone.current.secondsFromGMT(for: Date(timeIntervalSince1970: time)))
        }
    }

    /// The axis label, as ICU names zones (`GMT+5:30`).
    @Test func labels() {
        #expect(ReportTimeZone.utc.label(at: 0) == "GMT")
        #expect(ReportTimeZone.fixed(secondsEast: 3600).label(at: 0) == "GMT+1")
        #expect(ReportTimeZone.fixed(secondsEast: -18_000).label(at: 0) == "GMT-5")
        #expect(ReportTimeZone.fixed(secondsEast: 19_800).label(at: 0) == "GMT+5:30")
        #expect(ReportTimeZone.fixed(secondsEast: 20_700).label(at: 0) == "GMT+5:45")
    }

    @Test func utcCalendar() {
        #expect(
            CalendarTime(utc: 1_777_629_610)
                == CalendarTime(year: 2026, month: 5, day: 1, hour: 10, minute: 0, second: 10))
        #expect(CalendarTime(utc: -1) == CalendarTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59))
    }
}
