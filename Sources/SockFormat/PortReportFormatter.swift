import SockDiag
import SockReport

/// Writes a ``PortReport`` as the text table or the JSON document `sockscan ports` prints.
public struct PortReportFormatter: Sendable {
    /// How many destinations to show, worst first.
    public var top: Int

    public init(top: Int = 10) { self.top = max(1, top) }

    // MARK: JSON

    /// Writes one JSON document (and a newline).
    ///
    /// `{"range": {…}, "settings": {…}, "destinations": [{…}], "more_destinations": n, "other_sockets": n,
    /// "udp": {…}, "verdict": "ok|warn|critical", "summary": "…", "advice": ["…"]}`. Utilizations are
    /// fractions (1.0 is full), rounded to four decimals.
    public func writeJSON(_ report: PortReport, into out: inout TextWriter) {
        let range = report.settings.range
        out.write("{\"range\":{\"low\":")
        out.write(range.low)
        out.write(",\"high\":")
        out.write(range.high)
        out.write(",\"size\":")
        out.write(UInt64(range.count))
        out.write(",\"reserved\":")
        out.write(UInt64(report.reserved))
        out.write(",\"bound\":")
        out.write(UInt64(report.bound))
        out.write(",\"bound_ports\":[")
        for (i, port) in report.boundPorts.enumerated() {
            if i > 0 { out.write(",") }
            out.write(port)
        }
        out.write("],\"capacity\":")
        out.write(signed: Int64(report.capacity))
        out.write(",\"in_use\":")
        out.write(UInt64(report.portsInUse))
        out.write(",\"in_use_utilization\":")
        writeFraction(report.portsInUseUtilization, into: &out)
        out.write("},\"settings\":{\"ip_local_reserved_ports\":")
        out.writeJSONString(report.settings.reserved.description)
        out.write(",\"tcp_tw_reuse\":")
        writeOptional(report.settings.tcpTWReuse, into: &out)
        out.write(",\"tcp_max_tw_buckets\":")
        writeOptional(report.settings.tcpMaxTWBuckets, into: &out)
        out.write(",\"tcp_fin_timeout\":")
        writeOptional(report.settings.tcpFinTimeout, into: &out)
        out.write(",\"tcp_timestamps\":")
        writeOptional(report.settings.tcpTimestamps, into: &out)
        out.write(",\"tcp_tw_reuse_delay\":")
        writeOptional(report.settings.tcpTWReuseDelay, into: &out)
        out.write("},\"destinations\":[")
        let shown = report.destinations.prefix(top)
        for (i, d) in shown.enumerated() {
            if i > 0 { out.write(",") }
            out.write("{\"local_address\":")
            out.writeJSONString(d.destination.localAddress.description)
            out.write(",\"remote_address\":")
            out.writeJSONString(d.destination.remoteAddress.description)
            out.write(",\"remote_port\":")
            out.write(d.destination.remotePort)
            out.write(",\"used\":")
            out.write(UInt64(d.used))
            out.write(",\"capacity\":")
            out.write(signed: Int64(d.capacity))
            out.write(",\"utilization\":")
            writeFraction(d.utilization, into: &out)
            out.write(",\"reusable_time_wait\":")
            out.write(UInt64(d.reusableTimeWait))
            out.write(",\"effective_utilization\":")
            writeFraction(d.effectiveUtilization, into: &out)
            out.write(",\"states\":{")
            for (j, entry) in d.states.nonZero.enumerated() {
                if j > 0 { out.write(",") }
                out.writeJSONString(entry.state.name)
                out.write(":")
                out.write(UInt64(entry.count))
            }
            out.write("}}")
        }
        out.write("],\"more_destinations\":")
        out.write(UInt64(report.destinations.count - shown.count))
        out.write(",\"other_sockets\":")
        out.write(UInt64(report.otherSockets))
        out.write(",\"udp\":{\"sockets\":")
        out.write(UInt64(report.udp.sockets))
        out.write(",\"ports\":")
        out.write(UInt64(report.udp.ports))
        out.write(",\"capacity\":")
        out.write(signed: Int64(report.udp.capacity))
        out.write(",\"utilization\":")
        writeFraction(report.udp.utilization, into: &out)
        out.write(",\"connected\":")
        out.write(UInt64(report.udp.states[.established]))
        out.write(",\"unconnected\":")
        out.write(UInt64(report.udp.sockets) - report.udp.states[.established])
        out.write("},\"verdict\":")
        out.writeJSONString(report.verdict.rawValue)
        out.write(",\"summary\":")
        out.writeJSONString(report.summary)
        out.write(",\"advice\":[")
        for (i, line) in report.advice.enumerated() {
            if i > 0 { out.write(",") }
            out.writeJSONString(line)
        }
        out.write("]}\n")
    }

    private func writeOptional(_ value: Int?, into out: inout TextWriter) {
        if let value { out.write(signed: Int64(value)) } else { out.write("null") }
    }

    /// A fraction with at most four decimals (`0.975`, `1.0`).
    private func writeFraction(_ value: Double, into out: inout TextWriter) {
        let ten4 = UInt64(max(0, (value * 10_000).rounded()))
        out.write(ten4 / 10_000)
        out.write(".")
        var frac = ten4 % 10_000
        if frac == 0 {
            out.write("0")
            return
        }
        var digits = 4
        while frac % 10 == 0 {
            frac /= 10
            digits -= 1
        }
        var width = 1
        var f = frac
        while f >= 10 {
            f /= 10
            width += 1
        }
        out.pad(digits - width, with: UInt8(ascii: "0"))
        out.write(frac)
    }

    // MARK: Table

    /// Writes the human report: the range and what reduces it, the worst destinations with a utilization
    /// bar and their states, the UDP pool, the verdict and the advice.
    public func writeTable(_ report: PortReport, into out: inout TextWriter) {
        let s = report.settings
        var line = "Ports \(s.range) (\(s.range.count)) - \(report.reserved) reserved"
        if report.reserved > 0 { line += " (\(s.reserved))" }
        line += " - \(report.bound) bound"
        if report.bound > 0 { line += " (\(Self.portList(report.boundPorts)))" }
        line += " = \(report.capacity) per destination\n"
        out.write(line)
        func setting(_ v: Int?) -> String { v.map(String.init) ?? "?" }
        out.write(
            "tcp_tw_reuse=\(setting(s.tcpTWReuse))  tcp_fin_timeout=\(setting(s.tcpFinTimeout))  "
                + "tcp_max_tw_buckets=\(setting(s.tcpMaxTWBuckets))\n")
        out.write(
            "In use by all connections together: \(report.portsInUse) of \(report.capacity) "
                + "(\(PortReport.percentText(report.portsInUseUtilization))); the limit for bind() before connect()\n\n"
        )

        if report.destinations.isEmpty {
            out.write("No outgoing TCP connection holds an ephemeral port.\n")
        } else {
            let shown = Array(report.destinations.prefix(top))
            let header = ["LOCAL", "REMOTE", "USED", "CAP", "UTIL", "", "STATES"]
            var rows = [header]
            for d in shown {
                var states = d.states.nonZero.map { "\($0.state.name) \($0.count)" }.joined(separator: ", ")
                if d.reusableTimeWait > 0 { states += " (\(d.reusableTimeWait) time-wait reusable)" }
                rows.append([
                    d.destination.localAddress.description,
                    Endpoint(address: d.destination.remoteAddress, port: d.destination.remotePort).description,
                    // UTIL is what the verdict and the order use: TIME_WAIT that connect() may take over
                    // (tcp_tw_reuse) is left out; USED counts every socket.
                    String(d.used), String(d.capacity), PortReport.percentText(d.effectiveUtilization),
                    Self.bar(d.effectiveUtilization), states,
                ])
            }
            var widths = Array(repeating: 0, count: header.count)
            for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
            let rightAligned: Set<Int> = [2, 3, 4]
            for row in rows {
                var text = ""
                for (i, cell) in row.enumerated() {
                    let padding = String(repeating: " ", count: widths[i] - cell.count)
                    if i == row.count - 1 {
                        text += cell
                    } else {
                        text += rightAligned.contains(i) ? padding + cell : cell + padding
                        text += "  "
                    }
                }
                while text.last == " " { text.removeLast() }
                out.write(text + "\n")
            }
            let more = report.destinations.count - shown.count
            if more > 0 {
                let hidden = report.destinations[shown.count...]
                let blocking = hidden.map(\.blocking).max() ?? 0
                let used = hidden.map(\.used).max() ?? 0
                var line = "(\(more) more destination\(more == 1 ? "" : "s"): at most \(blocking) ports blocked each"
                if used > blocking { line += ", at most \(used) held counting reusable TIME_WAIT" }
                out.write(line + ")\n")
            }
            if report.otherSockets > 0 {
                out.write(
                    "(\(report.otherSockets) more sockets past the memory cap on destinations, not broken down)\n")
            }
        }
        let udp = report.udp
        if udp.capacity <= 0 {
            out.write(
                "\nUDP: \(udp.sockets) socket\(udp.sockets == 1 ? "" : "s"); every port of the range is reserved\n")
        } else {
            out.write(
                "\nUDP: \(udp.sockets) socket\(udp.sockets == 1 ? "" : "s") on \(udp.ports) port"
                    + "\(udp.ports == 1 ? "" : "s") of \(udp.capacity) (\(PortReport.percentText(udp.utilization)))\n")
        }
        out.write("\nVerdict: \(report.verdict.rawValue.uppercased()): \(report.summary)\n")
        if !report.advice.isEmpty {
            out.write("Advice:\n")
            for (i, line) in report.advice.enumerated() { out.write("  \(i + 1). \(line)\n") }
        }
    }

    /// `[##########..........]`: 20 cells, full at 100% and over.
    static func bar(_ fraction: Double) -> String {
        let cells = 20
        let filled = min(cells, max(0, Int((fraction * Double(cells)).rounded())))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: cells - filled) + "]"
    }

    /// `40005, 40006, 40010` (at most eight, then `…`).
    static func portList(_ ports: [UInt16]) -> String {
        let head = ports.prefix(8).map(String.init).joined(separator: ", ")
        return ports.count > 8 ? head + ", …" : head
    }
}
