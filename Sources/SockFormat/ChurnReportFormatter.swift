import SockDiag
import SockReport

/// Writes a ``ChurnReport`` as the text table or the JSON document `sockscan churn` prints.
///
/// It shares ``PortReportFormatter``'s columns, numbers and port advice: a churn report is the port report
/// with rates.
public struct ChurnReportFormatter: Sendable {
    /// How many destinations to show, worst first.
    public var top: Int

    /// A formatter that shows the `top` worst destinations (at least one).
    public init(top: Int = 10) { self.top = max(1, top) }

    /// Transfers at least this large per connection are bulk: fewer handshakes would gain them little.
    static let bulkBytes: UInt64 = 64 << 10

    // MARK: JSON

    /// Writes one JSON document (and a newline).
    ///
    /// `{"duration_s", "closes", "closes_per_s", "destinations": [{"local_address", "remote_address",
    /// "remote_port", "closes", "closes_per_s", "ports_in_use", "capacity", "steady_state_ports",
    /// "seconds_to_exhaustion" (null: never), "steady_state_utilization", "bytes_median", "bytes_p90" (null
    /// without tcp_info), "closed_here_share" (null: not measured), "time_wait", "hold_s"}], "aborted_closes",
    /// "dropped_events", "verdict", "more_destinations", "other_closes", "summary", "advice"}`. Rates are per
    /// second and shares fractions, with at most four decimals; seconds to exhaustion with one.
    public func writeJSON(_ report: ChurnReport, into out: inout TextWriter) {
        out.write("{\"duration_s\":")
        PortReportFormatter.writeDecimal(report.durationSeconds, into: &out)
        out.write(",\"closes\":")
        out.write(UInt64(report.closes))
        out.write(",\"closes_per_s\":")
        PortReportFormatter.writeDecimal(report.closesPerSecond, into: &out)
        out.write(",\"destinations\":[")
        let shown = report.destinations.prefix(top)
        for (i, d) in shown.enumerated() {
            if i > 0 { out.write(",") }
            PortReportFormatter.writeDestinationKey(d.destination, into: &out)
            out.write(",\"closes\":")
            out.write(UInt64(d.closes))
            out.write(",\"closes_per_s\":")
            PortReportFormatter.writeDecimal(d.closesPerSecond, into: &out)
            out.write(",\"ports_in_use\":")
            out.write(UInt64(d.portsInUse))
            out.write(",\"capacity\":")
            out.write(signed: Int64(d.capacity))
            out.write(",\"steady_state_ports\":")
            out.write(UInt64(d.steadyStatePorts))
            out.write(",\"seconds_to_exhaustion\":")
            if let seconds = d.secondsToExhaustion { out.write(seconds, decimals: 1) } else { out.write("null") }
            out.write(",\"steady_state_utilization\":")
            PortReportFormatter.writeDecimal(d.steadyStateUtilization, into: &out)
            out.write(",\"bytes_median\":")
            PortReportFormatter.writeOptional(d.bytesMedian, into: &out)
            out.write(",\"bytes_p90\":")
            PortReportFormatter.writeOptional(d.bytesP90, into: &out)
            out.write(",\"closed_here_share\":")
            PortReportFormatter.writeDecimal(d.closedHereShare, into: &out)
            out.write(",\"time_wait\":")
            out.write(UInt64(d.timeWait))
            out.write(",\"hold_s\":")
            PortReportFormatter.writeDecimal(d.holdSeconds, into: &out)
            out.write("}")
        }
        out.write("],\"aborted_closes\":")
        out.write(UInt64(report.abortedCloses))
        out.write(",\"dropped_events\":")
        out.write(report.droppedEvents)
        out.write(",\"verdict\":")
        out.writeJSONString(report.verdict.rawValue)
        out.write(",\"more_destinations\":")
        out.write(UInt64(report.destinations.count - shown.count))
        out.write(",\"other_closes\":")
        out.write(UInt64(report.otherCloses))
        out.write(",\"summary\":")
        out.writeJSONString(Self.summary(report))
        out.write(",\"advice\":[")
        for (i, line) in Self.advice(report).enumerated() {
            if i > 0 { out.write(",") }
            out.writeJSONString(line)
        }
        out.write("]}\n")
    }

    // MARK: Table

    /// Writes the human report: the window and the ports, the destinations with their rates against their
    /// ports, what the columns mean, the verdict and the advice.
    public func writeTable(_ report: ChurnReport, into out: inout TextWriter) {
        var line =
            "\(report.closes) connection\(report.closes == 1 ? "" : "s") closed in "
            + "\(Self.fixed(report.durationSeconds, 1)) s (\(PortReportFormatter.rateText(report.closesPerSecond))/s)"
        if report.abortedCloses > 0 {
            line += "; \(report.abortedCloses) more reset by this side (no TIME_WAIT; destination unknown)"
        }
        if report.droppedEvents > 0 { line += "; \(report.droppedEvents) events dropped: counts are low" }
        out.write(line + "\n")
        let s = report.settings
        var reuse = "tcp_tw_reuse=\(s.tcpTWReuse.map(String.init) ?? "?")"
        if report.destinations.contains(where: { s.timeWaitReuseApplies(to: $0.destination) }) {
            reuse += ": where it applies, \(s.timeWaitReuseDelayMilliseconds) ms"
        }
        out.write(
            "Ports \(s.range) = \(report.capacity) per destination; a close made here holds its port "
                + "\(PortReport.timeWaitSeconds) s in TIME_WAIT (\(reuse))\n\n")
        if report.destinations.isEmpty {
            out.write("No outgoing TCP connection ended or holds an ephemeral port.\n")
        } else {
            let shown = Array(report.destinations.prefix(top))
            var rows = [
                ["LOCAL", "REMOTE", "CLOSES", "CLOSES/S", "BYTES", "P90", "HERE", "PORTS", "CAP", "STEADY", "RUNS OUT"]
            ]
            for d in shown {
                rows.append([
                    d.destination.localAddress.description,
                    Endpoint(address: d.destination.remoteAddress, port: d.destination.remotePort).description,
                    String(d.closes), PortReportFormatter.rateText(d.closesPerSecond),
                    d.bytesMedian.map(String.init) ?? "-", d.bytesP90.map(String.init) ?? "-",
                    d.closedHereShare.map { Self.fixed($0 * 100, 0) + "%" } ?? "-",
                    String(d.portsInUse), String(d.capacity), String(d.steadyStatePorts),
                    d.secondsToExhaustion.map(Self.durationText) ?? "never",
                ])
            }
            PortReportFormatter.writeColumns(rows, rightAligned: Set(2...9), into: &out)
            let more = report.destinations.count - shown.count
            if more > 0 {
                let hidden = report.destinations[shown.count...]
                out.write(
                    "(\(more) more destination\(more == 1 ? "" : "s"): \(hidden.map(\.closes).reduce(0, +)) closes, "
                        + "at most \(hidden.map(\.steadyStatePorts).max() ?? 0) ports each in the steady state)\n")
            }
            if report.otherCloses > 0 {
                out.write("(\(report.otherCloses) closes to destinations past the memory cap, not broken down)\n")
            }
            out.write(
                "BYTES: per connection, median and p90. HERE: share closed by this side first (into TIME_WAIT).\n"
                    + "PORTS: held now. STEADY: held at this rate (CLOSES/S x HERE x hold + open connections).\n"
                    + "RUNS OUT: when connect() starts failing with EADDRNOTAVAIL at this rate.\n")
        }
        out.write("\nVerdict: \(report.verdict.rawValue.uppercased()): \(Self.summary(report))\n")
        let advice = Self.advice(report)
        if !advice.isEmpty {
            out.write("Advice:\n")
            for (i, line) in advice.enumerated() { out.write("  \(i + 1). \(line)\n") }
        }
    }

    /// `0.4`, `12` (``TextWriter/write(_:decimals:)``).
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        TextWriter.string { $0.write(value, decimals: decimals) }
    }

    /// How long until a destination runs out, as the table shows it: `now`, `8.5 s`, `4m10s`, `2h05m`.
    public static func durationText(_ seconds: Double) -> String {
        if seconds < 0.05 { return "now" }
        if seconds < 60 { return fixed(seconds, 1) + " s" }
        let whole = Int(seconds.rounded())
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        if whole < 3600 { return "\(whole / 60)m\(two(whole % 60))s" }
        return "\(whole / 3600)h\(two(whole % 3600 / 60))m"
    }

    // MARK: Summary and advice

    /// One line on what the verdict is about: the destination that runs out first, or the busiest.
    public static func summary(_ report: ChurnReport) -> String {
        guard let d = report.destinations.first else {
            return "no outgoing TCP connection ended in \(fixed(report.durationSeconds, 1)) s"
        }
        let rate = PortReportFormatter.rateText(d.closesPerSecond)
        if let seconds = d.secondsToExhaustion, seconds < 0.05 {
            return "\(d.destination) has no port left: \(d.portsInUse) of \(d.capacity) held, \(rate) closes/s"
        }
        if let seconds = d.secondsToExhaustion {
            return "\(d.destination) runs out of ports in \(durationText(seconds)) at \(rate) closes/s "
                + "(\(d.steadyStatePorts) of \(d.capacity) needed)"
        }
        return "\(d.destination): \(rate) closes/s, \(d.steadyStatePorts) of \(d.capacity) ports in the steady "
            + "state (\(PortReportFormatter.percentText(d.steadyStateUtilization)))"
    }

    /// What to do about the first destination, most effective first; empty when the verdict is ok.
    ///
    /// The first line depends on how its connections end: closed by the server first (their ports are free
    /// at once: what holds them is connections open at once), small transfers (a request per connection:
    /// reuse connections), bulk transfers (handshakes cost them little; it is the TIME_WAIT that hurts).
    /// Then a word on `tcp_tw_reuse` where it applies, and the port advice of `ports`.
    public static func advice(_ report: ChurnReport) -> [String] {
        guard report.verdict != .ok, let d = report.destinations.first, report.capacity > 0 else { return [] }
        var advice: [String] = []
        let target = Endpoint(address: d.destination.remoteAddress, port: d.destination.remotePort)
        let rate = PortReportFormatter.rateText(d.closesPerSecond)
        let hold = fixed(d.holdSeconds, d.holdSeconds < 10 ? 1 : 0)
        let steady = "\(d.steadyStatePorts) of \(d.capacity) ports at this rate"
        if d.closes == 0 {
            advice.append(
                "\(target) has \(d.portsInUse) connections open and none ended in "
                    + "\(fixed(report.durationSeconds, 1)) s: open fewer at once (a bounded pool), or spread them "
                    + "over more source addresses.")
        } else if let share = d.closedHereShare, share < 0.5 {
            advice.append(
                "\(rate) connections/s to \(target) end, most closed by the server first (only "
                    + "\(PortReportFormatter.percentText(share)) leave TIME_WAIT here): their ports are free at "
                    + "once, so what holds them is connections open at the same time (\(d.portsInUse - d.timeWait) "
                    + "now). Reuse connections (keep-alive) and check the server's idle timeout and requests per "
                    + "connection: a server that closes after each request makes the client reconnect.")
        } else if let bytes = d.bytesMedian, bytes >= bulkBytes {
            advice.append(
                "\(rate) new connections/s to \(target), \(bytes) bytes each (median): for transfers this large "
                    + "the handshakes cost little, but each close made here holds its port \(hold) s, \(steady). "
                    + "Keep connections open between transfers (a pool), or spread them over more source addresses.")
        } else {
            let each = d.bytesMedian.map { ", \($0) bytes each (median): one request each" } ?? ""
            advice.append(
                "\(rate) new connections/s to \(target)\(each) — reuse connections (HTTP keep-alive, a "
                    + "connection pool): each close made here holds its port \(hold) s in TIME_WAIT, \(steady).")
        }
        let settings = report.settings
        if settings.timeWaitReuseApplies(to: d.destination) {
            advice.append(
                "tcp_tw_reuse applies to \(target) (tcp_tw_reuse=\(settings.tcpTWReuse.map(String.init) ?? "?")"
                    + "\(settings.tcpTWReuse == 2 ? ", loopback" : "")): connect() takes over a TIME_WAIT port "
                    + "once it is \(settings.timeWaitReuseDelayMilliseconds) ms old, so a close holds a port that "
                    + "long, not \(PortReport.timeWaitSeconds) s; the steady state counts it so.")
        }
        advice += PortReportFormatter.portAdvice(
            settings: settings, capacity: d.capacity, destination: d.destination,
            timeWait: d.timeWait > 0 || (d.closedHereShare ?? 0) > 0)
        return advice
    }
}
