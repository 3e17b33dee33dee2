import SockReport

/// An SVG chart of report rows: TIME_WAIT (sar's tcp-tw) and established sockets on the left axis, the worst
/// destination's port utilization (%) on the right axis, time along the bottom; below it, where the rows
/// counted closes, a second panel of connections closed per second on the same time axis. Plain SVG 1.1
/// text, no script, no external resource.
public struct SVGChart: Sendable {
    public var width = 960.0
    /// The height of the sockets panel with its titles; the closes/s panel adds ``closesPanelHeight``.
    public var height = 480.0
    /// The height the closes/s panel adds below.
    public var closesPanelHeight = 200.0
    public var title: String
    /// The zone of the time axis.
    public var timeZone: ReportTimeZone

    public init(title: String, timeZone: ReportTimeZone = .system) {
        self.title = title
        self.timeZone = timeZone
    }

    // The plot area inside the margins.
    private var left: Double { 80 }
    private var right: Double { width - 80 }
    private var top: Double { 70 }
    private var bottom: Double { height - 60 }

    /// The series colours (legend and lines).
    static let timeWaitColor = "#d62728"
    static let establishedColor = "#1f77b4"
    static let portColor = "#2ca02c"
    static let closesColor = "#9467bd"

    /// The SVG document for `rows` (oldest first); where more than `maxGap` seconds pass between two rows
    /// (the recorder was stopped), each series stops and starts again as a new polyline, never a straight
    /// line across time without samples.
    public func render(_ rows: [ReportRow], maxGap: Double = .infinity) -> String {
        let t0 = rows.first?.time ?? 0
        var t1 = rows.last?.time ?? 1
        if t1 <= t0 { t1 = t0 + 1 }
        let counts = rows.flatMap { [$0[.tcpTW], $0[.established]] }
        let yMax = Self.niceCeiling(max(counts.max() ?? 1, 1))
        let ports = rows.compactMap { row in row.portUtilization.map { (row.time, $0 * 100) } }
        let pMax = max(100, Self.niceCeiling(ports.map(\.1).max() ?? 100))

        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * (right - left) }
        func y(_ v: Double) -> Double { bottom - v / yMax * (bottom - top) }
        func yPort(_ v: Double) -> Double { bottom - v / pMax * (bottom - top) }
        let withCloses = rows.contains { $0.closesPerSecond != nil }
        let total = height + (withCloses ? closesPanelHeight : 0)

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(n(width))" height="\(n(total))" \
            viewBox="0 0 \(n(width)) \(n(total))" font-family="sans-serif" font-size="12">
            <title>\(Self.escape(title))</title>
            <rect x="0" y="0" width="\(n(width))" height="\(n(total))" fill="#ffffff"/>
            <text x="\(n(width / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(Self.escape(title))</text>

            """
        // Grid and left axis ticks.
        svg += leftAxis(grid: "axis-left", labels: "labels-left", max: yMax, steps: 5, y: y)
        svg += "<g id=\"labels-right\" text-anchor=\"start\" fill=\"\(Self.portColor)\">\n"
        for i in 0...5 {
            let v = pMax * Double(i) / 5
            svg += "<text x=\"\(n(right + 8))\" y=\"\(n(yPort(v) + 4))\">\(Self.count(v))%</text>\n"
        }
        svg += "</g>\n"
        svg += timeAxis(id: "axis-time", at: bottom, from: t0, to: t1, x: x)
        // Frame and axis titles.
        svg += """
            <rect x="\(n(left))" y="\(n(top))" width="\(n(right - left))" height="\(n(bottom - top))" fill="none" stroke="#333333"/>
            <text x="20" y="\(n((top + bottom) / 2))" text-anchor="middle" transform="rotate(-90 20 \(n((top + bottom) / 2)))">sockets</text>
            <text x="\(n(width - 16))" y="\(n((top + bottom) / 2))" text-anchor="middle" fill="\(Self.portColor)" transform="rotate(90 \(n(width - 16)) \(n((top + bottom) / 2)))">worst port utilization (%)</text>
            <text x="\(n((left + right) / 2))" y="\(n(height - 14))" text-anchor="middle">time (\(Self.escape(zoneName(t0))))</text>

            """
        // Series, one polyline per stretch without a gap.
        let segments = HistoryReport.segments(rows, maxGap: maxGap)
        let tw = segments.map { $0.map { (x($0.time), y($0[.tcpTW])) } }
        let est = segments.map { $0.map { (x($0.time), y($0[.established])) } }
        let port = segments.map { $0.compactMap { row in row.portUtilization.map { (x(row.time), yPort($0 * 100)) } } }
        svg += series(id: "time-wait", segments: tw, color: Self.timeWaitColor, dashed: false)
        svg += series(id: "established", segments: est, color: Self.establishedColor, dashed: false)
        svg += series(id: "port-utilization", segments: port, color: Self.portColor, dashed: true)
        if withCloses { svg += closesPanel(segments, from: t0, to: t1, x: x) }
        // Legend.
        var legend: [(String, String, Bool)] = [
            ("TIME_WAIT (tcp-tw)", Self.timeWaitColor, false), ("established", Self.establishedColor, false),
            ("worst port utilization (right axis)", Self.portColor, true),
        ]
        if withCloses { legend.append(("closes/s (below)", Self.closesColor, false)) }
        svg += "<g id=\"legend\">\n"
        var lx = left
        for (label, color, dashed) in legend {
            svg +=
                "<line x1=\"\(n(lx))\" y1=\"48\" x2=\"\(n(lx + 24))\" y2=\"48\" stroke=\"\(color)\" stroke-width=\"2.5\""
            svg += dashed ? " stroke-dasharray=\"6 3\"/>\n" : "/>\n"
            svg += "<text x=\"\(n(lx + 30))\" y=\"52\">\(Self.escape(label))</text>\n"
            lx += 30 + Double(label.count) * 7 + 24
        }
        svg += "</g>\n</svg>\n"
        return svg
    }

    /// Grid lines across the plot and their labels on the left, `steps` + 1 of them from 0 to `max`.
    private func leftAxis(grid: String, labels: String, max: Double, steps: Int, y: (Double) -> Double) -> String {
        let values = (0...steps).map { max * Double($0) / Double(steps) }
        var svg = "<g id=\"\(grid)\" stroke=\"#cccccc\" stroke-width=\"1\">\n"
        for v in values {
            svg += "<line x1=\"\(n(left))\" y1=\"\(n(y(v)))\" x2=\"\(n(right))\" y2=\"\(n(y(v)))\"/>\n"
        }
        svg += "</g>\n<g id=\"\(labels)\" text-anchor=\"end\" fill=\"#333333\">\n"
        for v in values { svg += "<text x=\"\(n(left - 8))\" y=\"\(n(y(v) + 4))\">\(Self.count(v))</text>\n" }
        return svg + "</g>\n"
    }

    /// Tick marks and labels along a time axis at `y`.
    private func timeAxis(id: String, at y: Double, from t0: Double, to t1: Double, x: (Double) -> Double) -> String {
        var svg = "<g id=\"\(id)\" text-anchor=\"middle\" fill=\"#333333\">\n"
        for t in timeTicks(from: t0, to: t1) {
            svg += "<line x1=\"\(n(x(t)))\" y1=\"\(n(y))\" x2=\"\(n(x(t)))\" y2=\"\(n(y + 5))\" stroke=\"#333333\"/>\n"
            svg += "<text x=\"\(n(x(t)))\" y=\"\(n(y + 20))\">\(timeLabel(t, span: t1 - t0))</text>\n"
        }
        return svg + "</g>\n"
    }

    /// The closes/s panel below the sockets panel: its own left axis from 0, the same time axis, one
    /// polyline per stretch without a gap (rows without counted closes left out).
    private func closesPanel(
        _ segments: [ArraySlice<ReportRow>], from t0: Double, to t1: Double, x: (Double) -> Double
    ) -> String {
        let top = height + 10
        let bottom = height + closesPanelHeight - 40
        let cMax = Self.niceCeiling(max(segments.joined().compactMap(\.closesPerSecond).max() ?? 1, 1))
        func y(_ v: Double) -> Double { bottom - v / cMax * (bottom - top) }
        var svg = leftAxis(grid: "axis-closes", labels: "labels-closes", max: cMax, steps: 4, y: y)
        svg += timeAxis(id: "axis-time-closes", at: bottom, from: t0, to: t1, x: x)
        let middle = (top + bottom) / 2
        svg += """
            <rect x="\(n(left))" y="\(n(top))" width="\(n(right - left))" height="\(n(bottom - top))" fill="none" stroke="#333333"/>
            <text x="20" y="\(n(middle))" text-anchor="middle" fill="\(Self.closesColor)" transform="rotate(-90 20 \(n(middle)))">closes/s</text>

            """
        let points = segments.map { $0.compactMap { row in row.closesPerSecond.map { (x(row.time), y($0)) } } }
        return svg + series(id: "closes-per-second", segments: points, color: Self.closesColor, dashed: false)
    }

    /// A series: a polyline per segment, and a dot per point when there are few (and for a lone point, which
    /// a polyline does not show).
    private func series(id: String, segments: [[(Double, Double)]], color: String, dashed: Bool) -> String {
        let segments = segments.filter { !$0.isEmpty }
        guard !segments.isEmpty else { return "" }
        var text = "<g id=\"\(id)\">\n"
        let dotted = segments.reduce(0) { $0 + $1.count } <= 60
        for points in segments {
            let list = points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ")
            text +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6 3\"" : "")"
            text += " stroke-linejoin=\"round\" points=\"\(list)\"/>\n"
            if dotted || points.count == 1 {
                for (px, py) in points {
                    text += "<circle cx=\"\(n(px))\" cy=\"\(n(py))\" r=\"2.5\" fill=\"\(color)\"/>\n"
                }
            }
        }
        return text + "</g>\n"
    }

    /// Tick times at a round step giving at most 8 ticks, aligned on local time.
    func timeTicks(from t0: Double, to t1: Double) -> [Double] {
        let steps: [Double] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172_800,
            604_800,
        ]
        let span = t1 - t0
        let step = steps.first { span / $0 <= 8 } ?? span / 8
        let offset = Double(timeZone.offset(at: t0))
        var t = ((t0 + offset) / step).rounded(.up) * step - offset
        var ticks: [Double] = []
        while t <= t1 + 1e-6 && ticks.count < 20 {
            ticks.append(t)
            t += step
        }
        return ticks
    }

    private func timeLabel(_ t: Double, span: Double) -> String {
        var formatter = HistoryFormatter(timeZone: timeZone)
        formatter.showDate = span > 86_400
        let text = formatter.clock(t)
        return span >= 600 && !formatter.showDate ? String(text.prefix(5)) : text
    }

    private func zoneName(_ t: Double) -> String { timeZone.label(at: t) }

    /// 1, 2 or 5 times a power of ten, at or above `value`.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        var power = 1.0
        while power * 10 <= value { power *= 10 }
        while power > value { power /= 10 }
        for m in [1.0, 2, 5, 10] where m * power >= value { return m * power }
        return 10 * power
    }

    static func count(_ v: Double) -> String {
        v == v.rounded() ? String(Int64(v)) : HistoryFormatter.fixed(v, 1)
    }

    /// Escapes text for XML content and attributes (``TextWriter/writeXMLText(_:)``).
    static func escape(_ s: String) -> String { TextWriter.string { $0.writeXMLText(s) } }

    private func n(_ v: Double) -> String { HistoryFormatter.fixed(v, 1) }
}
