import Foundation
import SockReport

/// A point in time as `report --from/--to` accept it.
///
/// - `HH:MM` or `HH:MM:SS`: that time today, local time.
/// - `YYYY-MM-DD`: midnight, local time.
/// - ISO 8601 `YYYY-MM-DDTHH:MM[:SS[.fff]]` (a space may replace the `T`), local time unless it ends in
///   `Z` or an offset `±HH:MM` / `±HHMM` / `±HH`.
public enum ReportTime {
    /// Parses `text` against `now` (for "today") in `timeZone`.
    ///
    /// - Returns: `nil` when the text is none of the accepted forms or names an impossible date or time.
    public static func parse(_ text: String, now: Date = Date(), timeZone: TimeZone = .current) -> Date? {
        let text = text.trimmingASCIISpaces()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        if let (h, m, s, _) = parseClock(Substring(text)) {
            var day = calendar.dateComponents([.year, .month, .day], from: now)
            day.hour = h
            day.minute = m
            day.second = s
            return validDate(day, calendar)
        }
        let chars = Array(text.utf8)
        guard chars.count >= 10, let year = number(chars[0..<4]), chars[4] == UInt8(ascii: "-"),
            let month = number(chars[5..<7]), chars[7] == UInt8(ascii: "-"), let dayNumber = number(chars[8..<10])
        else { return nil }
        var components = DateComponents(year: year, month: month, day: dayNumber, hour: 0, minute: 0, second: 0)
        if chars.count == 10 { return validDate(components, calendar) }
        guard chars[10] == UInt8(ascii: "T") || chars[10] == UInt8(ascii: "t") || chars[10] == UInt8(ascii: " ")
        else { return nil }
        var rest = Substring(text.dropFirst(11))
        // The zone suffix, if any.
        var zone: TimeZone?
        if rest.hasSuffix("Z") || rest.hasSuffix("z") {
            zone = TimeZone(secondsFromGMT: 0)
            rest = rest.dropLast()
        } else if let signIndex = rest.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let offsetText = rest[rest.index(after: signIndex)...].filter { $0 != ":" }
            guard [2, 4].contains(offsetText.count), offsetText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let hh = Int(offsetText.prefix(2)),
                let mm = Int(offsetText.dropFirst(2).isEmpty ? "0" : String(offsetText.dropFirst(2))),
                hh <= 23, mm <= 59
            else { return nil }
            let seconds = (hh * 3600 + mm * 60) * (rest[signIndex] == "-" ? -1 : 1)
            zone = TimeZone(secondsFromGMT: seconds)
            rest = rest[..<signIndex]
        }
        guard let (h, m, s, fraction) = parseClock(rest) else { return nil }
        components.hour = h
        components.minute = m
        components.second = s
        if let zone { calendar.timeZone = zone }
        return validDate(components, calendar).map { $0.addingTimeInterval(fraction) }
    }

    /// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff`.
    private static func parseClock(_ text: Substring) -> (Int, Int, Int, Double)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        guard parts[0].count == 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]),
            parts[0].allSatisfy(\.isNumber), parts[1].allSatisfy(\.isNumber), (0...23).contains(h), (0...59).contains(m)
        else { return nil }
        var s = 0
        var fraction = 0.0
        if parts.count == 3 {
            let secondsText = parts[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard secondsText[0].count == 2, secondsText[0].allSatisfy(\.isNumber), let whole = Int(secondsText[0]),
                (0...60).contains(whole)
            else { return nil }
            s = whole
            if secondsText.count == 2 {
                guard !secondsText[1].isEmpty, secondsText[1].allSatisfy(\.isNumber),
                    let f = Double("0." + secondsText[1])
                else { return nil }
                fraction = f
            }
        }
        return (h, m, s, fraction)
    }

    private static func number(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(b - UInt8(ascii: "0"))
        }
        return value
    }

    /// The date of `components`, or nil when the calendar had to normalise it (February 30th, hour 25).
    private static func validDate(_ components: DateComponents, _ calendar: Calendar) -> Date? {
        guard let date = calendar.date(from: components) else { return nil }
        let back = calendar.dateComponents([.year, .month, .day], from: date)
        guard back.year == components.year, back.month == components.month, back.day == components.day else {
            return nil
        }
        return date
    }
}

extension String {
    fileprivate func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
