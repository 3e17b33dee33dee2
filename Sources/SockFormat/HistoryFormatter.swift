import SockDiag
import SockReport

/// Writes report rows as sar does (`sar -n SOCK`), as NDJSON or as CSV.
///
/// Table columns: the time of day, the sar columns (`totsck tcpsck udpsck rawsck ip-frag tcp-tw` and the
/// IPv6 ones `tcp6sck udp6sck raw6sck ip6-frag`), then TCP sockets per state from the kernel dump
/// (`estab synsent closewait timewait listen other`), `closes/s` (connections that ended per second, where
/// they were counted) and `%port`, the worst destination's port utilization.
public struct HistoryFormatter: Sendable {
    /// The zone the table's times are in (JSON and CSV give UTC).
    public var timeZone: ReportTimeZone
    /// Show the date with the time (a report spanning several days).
    public var showDate = false
    /// Show the `%port` column.
    public var showPort = true
    /// Show the `closes/s` column (`-` in a row whose closes were not counted).
    public var showCloses = false

    public init(timeZone: ReportTimeZone = .system) { self.timeZone = timeZone }

    /// The state columns: header and state (nil for `other`).
    static let stateColumns: [(String, TCPState?)] = [
        ("estab", .established), ("synsent", .synSent), ("closewait", .closeWait), ("timewait", .timeWait),
        ("listen", .listen), ("other", nil),
    ]

    var timeWidth: Int { showDate ? 20 : 11 }

    // MARK: table

    /// The header line, starting with `time` as sar does.
    public func header(time: Double) -> String {
        var line = pad(clock(time), timeWidth)
        for column in SarColumn.allCases { line += alignRight(column.name, 9) }
        for (name, _) in Self.stateColumns { line += alignRight(name, 10) }
        if showCloses { line += alignRight("closes/s", 10) }
        if showPort { line += alignRight("%port", 8) }
        return line
    }

    /// One table line: `label` (the row's time when nil), then the values; with `decimals`, every count with
    /// that many decimals (else whole numbers as they are).
    public func line(_ row: ReportRow, label: String? = nil, decimals: Int? = nil) -> String {
        let number = { (value: Double) in decimals.map { Self.fixed(value, $0) } ?? self.number(value) }
        var line = pad(label ?? clock(row.time), timeWidth)
        for column in SarColumn.allCases { line += alignRight(number(row[column]), 9) }
        for (_, state) in Self.stateColumns {
            line += alignRight(number(state.map { row[$0] } ?? row.otherStates), 10)
        }
        // A rate, with two decimals as sar prints its rates.
        if showCloses { line += alignRight(row.closesPerSecond.map { Self.fixed($0, 2) } ?? "-", 10) }
        if showPort { line += alignRight(row.lastPortUtilization.map(percent) ?? "-", 8) }
        return line
    }

    /// `10:05:01      400.00 closes/s  127.0.0.1 -> 127.0.0.2:7301`: one of the busiest destinations of `row`
    /// (``ReportRow/topCloses``), after `label` (the row's time when nil).
    public func closesLine(_ row: ReportRow, _ closes: DestinationCloses, label: String? = nil) -> String {
        let d = closes.destination
        let remote = Endpoint(address: d.remoteAddress, port: d.remotePort)
        return pad(label ?? clock(row.time), timeWidth) + alignRight(Self.fixed(row.closesPerSecond(closes), 2), 9)
            + " closes/s  \(d.localAddress) -> \(TextWriter.string { $0.writeEndpoint(remote, star: false) })"
    }

    /// `10:05:00          RESTART  (no samples since 09:40:10)`: a new recording run began (sar's
    /// `LINUX RESTART`).
    public func restartLine(_ restart: Restart) -> String {
        pad(clock(restart.time), timeWidth) + alignRight("RESTART", 9)
            + "  (no samples since \(clock(restart.previousSample)))"
    }

    /// The `Average:` line: every count with two decimals, as sar prints its averages.
    public func averageLine(_ row: ReportRow) -> String { line(row, label: "Average:", decimals: 2) }

    /// The whole table: header, rows (a `RESTART` line before a row where a new recording run began), `Average:`, `Peak:` (each column's maximum over the samples), a
    /// sparkline of tcp-tw, and the worst destination of the full scan with the highest utilization among
    /// `samples` (the peak `%port`).
    public func table(rows: [ReportRow], samples: [Sample]) -> String {
        guard let first = rows.first, !samples.isEmpty else { return "" }
        var text = header(time: first.time) + "\n"
        for row in rows {
            if let restart = row.restart { text += restartLine(restart) + "\n" }
            text += line(row) + "\n"
        }
        let average = HistoryReport.average(samples)
        let peak = HistoryReport.peak(samples)
        text += averageLine(average) + "\n"
        text += line(peak, label: "Peak:") + "\n"
        let tw = rows.map { $0[.tcpTW] }
        text +=
            "tcp-tw \(HistoryReport.sparkline(tw))  \(number(tw.min()!))..\(number(tw.max()!)); "
            + "peak \(number(peak[.tcpTW])) at \(clock(peak.time))"
        let missed = samples.reduce(0) { $0 + $1.missed }
        if missed > 0 { text += "; \(missed) tick\(missed == 1 ? "" : "s") missed" }
        text += "\n"
        if showCloses, let rate = average.closesPerSecond, let busiest = peak.closesPerSecond {
            text +=
                "closes/s \(HistoryReport.sparkline(rows.compactMap(\.closesPerSecond)))  \(Self.fixed(rate, 2)) on "
                + "average, peak \(Self.fixed(busiest, 2))"
            if average.droppedEvents > 0 {
                text += "; \(average.droppedEvents) close events dropped by the kernel (the counts are low by as many)"
            }
            text += "\n"
            for closes in average.topCloses.prefix(3) {
                text += closesLine(average, closes, label: "Busiest:") + "\n"
            }
        }
        if let scan = peak.worstScan, let worst = scan.destination {
            let d = worst.destination
            let remote = Endpoint(address: d.remoteAddress, port: d.remotePort)
            text +=
                "Worst destination at \(clock(scan.time)): \(d.localAddress) -> "
                + "\(TextWriter.string { $0.writeEndpoint(remote, star: false) }) uses \(worst.used) of \(worst.capacity) "
                + "ports (\(worst.states[.timeWait]) in TIME_WAIT), \(percent(worst.effectiveUtilization))\n"
        }
        return text
    }

    // MARK: JSON and CSV

    /// One JSON object: `time` (ISO 8601, UTC), the sar columns by name, `tcp_states`, `port_utilization`
    /// (measured in this row, else null), `worst_destination` (the worst destination of the row's full scan
    /// with the highest utilization: `local_address remote_address remote_port used capacity time_wait
    /// utilization time`, else null), `samples`, `missed`, `closes` (connections that ended over the row),
    /// `closes_per_s` (`closes` over the seconds they were counted in), `close_events_dropped` (each null where
    /// not counted), `top_closes` (the busiest destinations by closes: `local_address remote_address
    /// remote_port closes closes_per_s`, most first).
    public func json(_ row: ReportRow) -> String {
        var text = "{\"time\":\"\(Self.iso8601(row.time))\""
        for column in SarColumn.allCases { text += ",\"\(column.name)\":\(number(row[column]))" }
        text += ",\"tcp_states\":{"
        text += SampleStates.all.map { "\"\($0.name)\":\(number(row[$0]))" }.joined(separator: ",")
        text += "},\"port_utilization\":\(row.portUtilization.map { number($0, digits: 4) } ?? "null")"
        text += ",\"worst_destination\":"
        if let scan = row.worstScan, let d = scan.destination {
            let local = TextWriter.string { $0.writeJSONString(d.destination.localAddress.description) }
            let remote = TextWriter.string { $0.writeJSONString(d.destination.remoteAddress.description) }
            text +=
                "{\"local_address\":\(local),"
                + "\"remote_address\":\(remote),\"remote_port\":\(d.destination.remotePort),"
                + "\"used\":\(d.used),\"capacity\":\(d.capacity),\"time_wait\":\(d.states[.timeWait]),"
                + "\"utilization\":\(number(d.effectiveUtilization, digits: 4)),\"time\":\"\(Self.iso8601(scan.time))\"}"
        } else {
            text += "null"
        }
        text += ",\"samples\":\(row.samples),\"missed\":\(row.missed)"
        text += ",\"closes\":\(row.closes.map(String.init) ?? "null")"
        text += ",\"closes_per_s\":\(row.closesPerSecond.map { number($0, digits: 3) } ?? "null")"
        text += ",\"close_events_dropped\":\(row.closes == nil ? "null" : String(row.droppedEvents))"
        text += ",\"top_closes\":["
        for (i, closes) in row.topCloses.enumerated() {
            let d = closes.destination
            let local = TextWriter.string { $0.writeJSONString(d.localAddress.description) }
            let remote = TextWriter.string { $0.writeJSONString(d.remoteAddress.description) }
            text +=
                "\(i > 0 ? "," : ""){\"local_address\":\(local),\"remote_address\":\(remote),"
                + "\"remote_port\":\(d.remotePort),\"closes\":\(closes.closes),"
                + "\"closes_per_s\":\(number(row.closesPerSecond(closes), digits: 3))}"
        }
        text += "]}"
        return text
    }

    /// The CSV header line.
    public var csvHeader: String {
        (["time"] + SarColumn.allCases.map(\.name) + SampleStates.all.map(\.name)
            + ["port_utilization", "samples", "missed", "closes", "closes_per_s"] + Self.worstColumns)
            .joined(separator: ",")
    }

    /// The CSV columns of the worst destination (as `worst_destination` in JSON).
    static let worstColumns = [
        "worst_local_address", "worst_remote_address", "worst_remote_port", "worst_used", "worst_capacity",
    ]

    /// One CSV line, in the order of ``csvHeader``.
    public func csv(_ row: ReportRow) -> String {
        let worst = row.worstScan?.destination
        let worstFields =
            worst.map {
                [
                    "\($0.destination.localAddress)", "\($0.destination.remoteAddress)", "\($0.destination.remotePort)",
                    "\($0.used)", "\($0.capacity)",
                ]
            }
            ?? Array(repeating: "", count: Self.worstColumns.count)
        return
            ([Self.iso8601(row.time)] + SarColumn.allCases.map { number(row[$0]) }
            + SampleStates.all.map { number(row[$0]) }
            + [row.portUtilization.map { number($0, digits: 4) } ?? "", "\(row.samples)", "\(row.missed)"]
            + [row.closes.map(String.init) ?? "", row.closesPerSecond.map { number($0, digits: 3) } ?? ""]
            + worstFields)
            .joined(separator: ",")
    }

    // MARK: values

    /// `2026-05-01T12:00:10.250Z`.
    public static func iso8601(_ time: Double) -> String {
        let millis = Int64((time * 1000).rounded(.down))
        return TextWriter.string { $0.writeTimestamp(.milliseconds(millis), fractionDigits: 3) }
    }

    /// `14:25:10` (or `2026-05-01 14:25:10` with ``showDate``), local time.
    public func clock(_ time: Double) -> String {
        let c = timeZone.calendarTime(time)
        let clock = "\(Self.digits(c.hour, 2)):\(Self.digits(c.minute, 2)):\(Self.digits(c.second, 2))"
        return showDate
            ? "\(Self.digits(c.year, 4))-\(Self.digits(c.month, 2))-\(Self.digits(c.day, 2)) \(clock)" : clock
    }

    /// The local calendar day of `time` (to tell whether a report spans several days).
    public func day(_ time: Double) -> Int {
        let c = timeZone.calendarTime(time)
        return c.year * 10000 + c.month * 100 + c.day
    }

    static func digits(_ value: Int, _ count: Int) -> String {
        var s = String(value)
        while s.count < count { s = "0" + s }
        return s
    }

    /// An integer as is; otherwise `digits` decimals.
    func number(_ value: Double, digits: Int = 2) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return Self.fixed(value, digits)
    }

    func percent(_ fraction: Double) -> String { Self.fixed(fraction * 100, 1) + "%" }

    /// `value` with `decimals` decimals (``TextWriter/write(_:decimals:)``).
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        TextWriter.string { $0.write(value, decimals: decimals) }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    private func alignRight(_ s: String, _ width: Int) -> String {
        s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s
    }
}
