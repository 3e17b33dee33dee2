import ArgumentParser
import SockScanCLI
import Foundation
import SockDiag
import SockFormat
import SockHistory
import SockReport

public struct Report: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Socket counts over time from a recorded history, in sar's layout, as JSON or CSV, or as a chart.",
        discussion: """
            Table: one row per sample (or per --every interval, averaged), with the time of day, sar's columns \
            (totsck tcpsck udpsck rawsck ip-frag tcp-tw tcp6sck udp6sck raw6sck ip6-frag), TCP states (estab \
            synsent closewait timewait listen other), closes/s where closes were counted (the TCP connections \
            this host opened that ended, per second: a row's closes over the seconds they were counted in; - \
            where not counted) and %port, the worst destination's port utilization at the latest port scan; then \
            an Average: line, a Peak: line (each column's highest sample), a sparkline of tcp-tw, one of closes/s \
            with the Busiest: destinations by closes over the range, and the worst destination of the port scan \
            with the highest utilization in the time range (where the peak %port comes from). A RESTART line marks \
            where a new recording run \
            began (as sar's LINUX RESTART); intervals without samples have no row, and the chart's lines break \
            where more than three intervals pass without one.

            JSON: one object per row, keys "time" (ISO 8601, UTC), the sar column names ("tcp-tw", …), \
            "tcp_states", "port_utilization" (0…1, null without a port scan in the row), "worst_destination" \
            (of the row's port scan with the highest utilization: "local_address", "remote_address", \
            "remote_port", "used", "capacity", "time_wait", "utilization", "time"; null without a port scan), \
            "samples", "missed", "closes" (connections that ended over the row), "closes_per_s" (closes over the \
            seconds they were counted in), "close_events_dropped" (events the kernel dropped: closes is low by at \
            most this many), each null where closes were not counted, and "top_closes" (the busiest destinations \
            by closes: "local_address", "remote_address", "remote_port", "closes", "closes_per_s"; each destination's \
            closes summed over the samples in which it was among the busiest). CSV: the same columns (closes, \
            closes_per_s, worst_local_address … worst_capacity; no top_closes), with a header line (also when no \
            sample is in the range). A --chart is an SVG file, with a closes/s panel below when closes were \
            counted; without samples no chart is written and the exit status is 1.

            Times: ISO 8601 (2026-05-01T14:25:00, with Z or +02:00 for another zone; a space may replace the T) \
            or HH:MM / HH:MM:SS today, local time. --from is inclusive, --to exclusive.

            Examples:
              sockscan report --db history.db --from 14:00 --to 15:00 --every 1m
              sockscan report --db h.db --format json | jq 'select(."tcp-tw" > 1000)'
              sockscan report --db h.db --every 5m --chart tw.svg
            """
    )

    @Option(name: .customLong("db"), help: ArgumentHelp("The history database.", valueName: "PATH"))
    var db: String

    @Option(
        name: .customLong("from"), parsing: .unconditional,
        help: ArgumentHelp("Start (ISO 8601 or HH:MM).", valueName: "TIME"))
    var from: String?

    @Option(
        name: .customLong("to"), parsing: .unconditional,
        help: ArgumentHelp("End (ISO 8601 or HH:MM).", valueName: "TIME"))
    var to: String?

    @Option(
        name: .customLong("every"), parsing: .unconditional,
        help: ArgumentHelp("Average the samples per interval (10s 1m 5m 1h).", valueName: "DURATION"),
        transform: TimeSpan.argument(.standard))
    var every: TimeSpan?

    @Option(.format) var format: RowFormat = .table

    @Option(
        name: .customLong("chart"),
        help: ArgumentHelp(
            "Also write an SVG chart to this file (replaced at once, never half written).", valueName: "FILE.svg"))
    var chart: String?

    /// The parsed --from and --to.
    private static func time(_ text: String?, _ name: String) throws -> Double? {
        guard let text else { return nil }
        guard let date = ReportTime.parse(text) else {
            throw ValidationError(
                "\(name): '\(text)' is not a time; use ISO 8601 (2026-05-01T14:25:00, 2026-05-01T12:25:00Z, "
                    + "2026-05-01 14:25) or HH:MM / HH:MM:SS for today")
        }
        return date.timeIntervalSince1970
    }

    public mutating func validate() throws {
        try requireNonEmpty(db, "--db")
        try requireNonEmpty(chart, "--chart")
        let start = try Self.time(from, "--from")
        let end = try Self.time(to, "--to")
        if let start, let end, start > end {
            throw ValidationError("--from (\(from!)) is after --to (\(to!))")
        }
        if let chart, !chart.lowercased().hasSuffix(".svg") {
            throw ValidationError("--chart: only .svg charts can be written (got '\(chart)'); name the file FILE.svg")
        }
    }

    public func run() throws {
        let start = try Self.time(from, "--from") ?? -.infinity
        let end = try Self.time(to, "--to") ?? .infinity
        try runtime {
            let store = try HistoryStore.openForReading(path: db)
            let samples = try store.samples(from: start, to: end)
            guard !samples.isEmpty else {
                let none = "no samples in \(db)\(from != nil || to != nil ? " in that time range" : "")"
                // The header all the same: a script reading the CSV finds its columns.
                if format == .csv { try printLine(HistoryFormatter().csvHeader) }
                if let chart { throw ChartError(path: chart, reason: "\(none); no chart written") }
                Console.warn("sockscan report: \(none)")
                return
            }
            let rows = HistoryReport.rows(samples, every: every)
            var formatter = HistoryFormatter()
            formatter.showDate = formatter.day(samples.first!.time) != formatter.day(samples.last!.time)
            formatter.showCloses = samples.contains { $0.closes != nil }
            // First: output cut short by a closed pipe (| head) must not lose the chart.
            if let chart {
                let first = formatter.clock(samples.first!.time)
                let last = formatter.clock(samples.last!.time)
                let title =
                    "sockscan report \(URL(fileURLWithPath: db).lastPathComponent): \(first) - \(last)"
                    + (every.map { ", per \($0)" } ?? "")
                let runs = Set(samples.compactMap(\.runID))
                let intervals = try store.runs().filter { runs.contains($0.id) }.map(\.interval)
                let svg = SVGChart(title: title).render(
                    rows, maxGap: HistoryReport.maxGap(every: every, intervals: intervals))
                do throws(FileWriteError) {
                    try AtomicFile.write(svg, to: chart)
                } catch {
                    throw ChartError(path: chart, reason: error.explanation)
                }
            }
            switch format {
            case .table:
                let text = formatter.table(rows: rows, samples: samples)
                try printLine(String(text.dropLast()))
            case .json:
                for row in rows { try printLine(formatter.json(row)) }
            case .csv:
                try printLine(formatter.csvHeader)
                for row in rows { try printLine(formatter.csv(row)) }
            }
        }
    }
}

/// The chart cannot be written: `cannot write chart PATH: REASON`.
struct ChartError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot write chart \(path): \(reason)" }
}
