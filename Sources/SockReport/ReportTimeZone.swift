#if canImport(Glibc)
    import Glibc
#endif

/// The time zone a report tells local time in, without Foundation: the system's (glibc's `localtime_r`, which
/// follows `TZ` and `/etc/localtime`) or a fixed offset from UTC.
public enum ReportTimeZone: Equatable, Sendable {
    /// The system's zone, daylight saving time included.
    case system
    /// A fixed offset from UTC, in seconds east (India: 19,800).
    case fixed(secondsEast: Int)

    /// UTC.
    public static let utc = ReportTimeZone.fixed(secondsEast: 0)

    /// The date and time of day, to the second, of `time` (seconds since 1970, rounded down).
    public func calendarTime(_ time: Double) -> CalendarTime { broken(time).calendar }

    /// Seconds east of UTC at `time`.
    public func offset(at time: Double) -> Int { broken(time).offset }

    /// The zone's name at `time` as a chart's axis prints it: `GMT`, `GMT+1`, `GMT-3`, `GMT+5:30` (as ICU names
    /// zones), and `UTC` for the system zone `Etc/UTC`.
    public func label(at time: Double) -> String {
        let offset = offset(at: time)
        if offset == 0 { return self == .system && Self.systemIdentifier == "Etc/UTC" ? "UTC" : "GMT" }
        let minutes = abs(offset) / 60
        var label = "GMT" + (offset < 0 ? "-" : "+") + String(minutes / 60)
        if minutes % 60 != 0 { label += ":" + (minutes % 60 < 10 ? "0" : "") + String(minutes % 60) }
        return label
    }

    /// The system zone's name: `TZ` (without a leading `:`), else where `/etc/localtime` links to, below
    /// `zoneinfo/`.
    static var systemIdentifier: String? {
        if let tz = getenv("TZ").map({ String(cString: $0) }), !tz.isEmpty {
            return tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
        }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/etc/localtime", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let range = target.firstRange(of: "zoneinfo/") else { return nil }
        return String(target[range.upperBound...])
    }

    private func broken(_ time: Double) -> (calendar: CalendarTime, offset: Int) {
        var seconds = time_t(time.rounded(.down))
        var fields = tm()
        switch self {
        case .system:
            localtime_r(&seconds, &fields)
            return (CalendarTime(fields), Int(fields.tm_gmtoff))
        case .fixed(let east):
            seconds += time_t(east)
            gmtime_r(&seconds, &fields)
            return (CalendarTime(fields), east)
        }
    }
}

/// A date and a time of day, to the second, in some zone.
public struct CalendarTime: Equatable, Sendable {
    public var year: Int
    /// 1…12.
    public var month: Int
    /// 1…31.
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
    }

    init(_ fields: tm) {
        self.init(
            year: Int(fields.tm_year) + 1900, month: Int(fields.tm_mon) + 1, day: Int(fields.tm_mday),
            hour: Int(fields.tm_hour), minute: Int(fields.tm_min), second: Int(fields.tm_sec))
    }

    /// The UTC date and time of `seconds` since 1970.
    public init(utc seconds: Int64) {
        var t = time_t(seconds)
        var fields = tm()
        gmtime_r(&t, &fields)
        self.init(fields)
    }
}
