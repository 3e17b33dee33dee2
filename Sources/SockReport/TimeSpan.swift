/// A length of time as operators write it: `500ms`, `10s`, `1m`, `2h`, `14d`, in whole milliseconds.
///
/// Used for the sampling interval, the full-scan period, the retention and the report's buckets.
public struct TimeSpan: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The length in milliseconds (positive).
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ s: Int64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }

    /// The length in seconds.
    public var seconds: Double { Double(milliseconds) / 1000 }

    /// The length in nanoseconds, saturating.
    public var nanoseconds: Int64 {
        milliseconds.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : milliseconds * 1_000_000
    }

    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// Parses `NUMBER UNIT` with the unit one of `ms s m h d` (`500ms`, `10s`, `1m`, `2h`, `14d`; also `1.5s`).
    ///
    /// - Returns: `nil` for a missing or unknown unit, a number that is not positive, less than 1 ms, or
    ///   more than 100 years.
    public init?(parsing text: String) {
        let text = text.trimmingASCIISpaces()
        guard let unitStart = text.firstIndex(where: { $0.isLetter }) else { return nil }
        let number = String(text[..<unitStart])
        let unit = String(text[unitStart...]).lowercased()
        guard let scale = Self.units.first(where: { $0.suffix == unit })?.milliseconds else { return nil }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            let value = Double(number), value.isFinite, value > 0
        else { return nil }
        let total = value * Double(scale)
        guard total >= 1, total <= 100 * 365 * 86_400_000 else { return nil }
        milliseconds = Int64(total.rounded())
    }

    /// The shortest exact form: `500ms`, `10s`, `90s`, `1m`, `2h`, `14d`.
    public var description: String {
        for (suffix, scale) in Self.units.reversed() where milliseconds % scale == 0 {
            return "\(milliseconds / scale)\(suffix)"
        }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.milliseconds < rhs.milliseconds }
}

extension String {
    package func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
