/// A length of time as operators write it: `500ms`, `10s`, `1m`, `2h`, `14d`, in whole milliseconds.
///
/// Used for the sampling interval, the full-scan period, the retention, the report's buckets and the metrics
/// cache: the one duration parser of the command line.
public struct TimeSpan: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The length in milliseconds (positive, or 0 where a ``Syntax`` allows it).
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ s: Int64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }

    /// The length in seconds.
    public var seconds: Double { Double(milliseconds) / 1000 }

    /// The length in nanoseconds, saturating.
    public var nanoseconds: Int64 {
        milliseconds.multipliedReportingOverflow(by: 1_000_000).overflow ? .max : milliseconds * 1_000_000
    }

    /// A unit a length may be written in.
    public enum Unit: String, CaseIterable, Sendable {
        case milliseconds = "ms"
        case seconds = "s"
        case minutes = "m"
        case hours = "h"
        case days = "d"

        /// Milliseconds in one.
        public var milliseconds: Int64 {
            switch self {
            case .milliseconds: 1
            case .seconds: 1000
            case .minutes: 60_000
            case .hours: 3_600_000
            case .days: 86_400_000
            }
        }

        /// An example in this unit, for error messages.
        var example: String {
            switch self {
            case .milliseconds: "500ms"
            case .seconds: "10s"
            case .minutes: "1m"
            case .hours: "2h"
            case .days: "14d"
            }
        }
    }

    /// What a text may say: the units, whether a bare number is seconds, whether 0 is a length, the longest.
    public struct Syntax: Sendable {
        /// The units accepted after the number (exactly as written: `ms`, `s`, …, lower case).
        public var units: [Unit]
        /// A number without a unit is seconds (`1`, as `sar 1`).
        public var bareNumberIsSeconds: Bool
        /// 0 is a length (a cache that keeps nothing); otherwise a length is at least 1 ms.
        public var allowsZero: Bool
        /// The longest length accepted.
        public var maximum: TimeSpan
        /// How the error message names ``maximum``.
        public var maximumText: String

        public init(
            units: [Unit] = Unit.allCases, bareNumberIsSeconds: Bool = false, allowsZero: Bool = false,
            maximum: TimeSpan = TimeSpan(milliseconds: 100 * 365 * 86_400_000),
            maximumText: String = "100 years (36500d)"
        ) {
            self.units = units
            self.bareNumberIsSeconds = bareNumberIsSeconds
            self.allowsZero = allowsZero
            self.maximum = maximum
            self.maximumText = maximumText
        }

        /// `500ms 10s 1m 2h 14d`, at least 1 ms, at most 100 years.
        public static let standard = Syntax()
        /// ``standard``, or a bare number of seconds (`--interval 1`, as `sar 1`).
        public static let interval = Syntax(bareNumberIsSeconds: true)
    }

    /// Why a text is not a length of time, worded for the option it was given to.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public enum Reason: Sendable {
            /// Not a number and a unit of the syntax.
            case notADuration
            /// Zero or negative.
            case notPositive
            /// Under 1 ms.
            case belowOneMillisecond
            /// Over the syntax's maximum.
            case tooLong
        }

        public var reason: Reason
        public var syntax: Syntax

        /// `expected a duration like 500ms, 10s, 1m, 2h, 14d`, `must be more than 0`, `must be at least 1ms`,
        /// `must be at most 100 years (36500d)`.
        public var description: String {
            switch reason {
            case .notADuration:
                "expected a duration like " + syntax.units.map(\.example).joined(separator: ", ")
                    + (syntax.bareNumberIsSeconds ? " (a bare number is seconds)" : "")
            case .notPositive: "must be more than 0"
            case .belowOneMillisecond: "must be at least 1ms"
            case .tooLong: "must be at most \(syntax.maximumText)"
            }
        }
    }

    /// Parses `NUMBER UNIT` (`500ms`, `10s`, `1m`, `2h`, `14d`, `1.5s`), as `syntax` allows.
    ///
    /// - Throws: ``ParseError``: the number or the unit is not one (`notADuration`), the length is 0 or
    ///   negative (`notPositive`, unless the syntax allows 0), under 1 ms or over the syntax's maximum.
    public init(parsing text: String, syntax: Syntax = .standard) throws(ParseError) {
        func fail(_ reason: ParseError.Reason) -> ParseError { ParseError(reason: reason, syntax: syntax) }
        let number = String(text.prefix { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-" || $0 == "+") })
        let unitText = String(text.dropFirst(number.count))
        guard let value = Double(number), value.isFinite else { throw fail(.notADuration) }
        let scale: Int64
        if unitText.isEmpty && (syntax.bareNumberIsSeconds || value <= 0) {
            scale = Unit.seconds.milliseconds  // a bare 0 or negative says why it is not one
        } else if let unit = syntax.units.first(where: { $0.rawValue == unitText }) {
            scale = unit.milliseconds
        } else {
            throw fail(.notADuration)
        }
        guard value > 0 || (syntax.allowsZero && value == 0) else { throw fail(.notPositive) }
        let total = value * Double(scale)
        guard total >= 1 || syntax.allowsZero else { throw fail(.belowOneMillisecond) }
        guard total <= Double(syntax.maximum.milliseconds) else { throw fail(.tooLong) }
        // Signs only made the messages above; a length is written without one.
        guard number.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }) else {
            throw fail(.notADuration)
        }
        milliseconds = Int64(total.rounded())
    }

    /// The shortest exact form: `500ms`, `10s`, `90s`, `1m`, `2h`, `14d`.
    public var description: String {
        for unit in Unit.allCases.reversed() where milliseconds % unit.milliseconds == 0 {
            return "\(milliseconds / unit.milliseconds)\(unit.rawValue)"
        }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: TimeSpan, rhs: TimeSpan) -> Bool { lhs.milliseconds < rhs.milliseconds }
}
