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
    /// "udp": {…}, "sample": {…}|null, "verdict": "ok|warn|critical", "summary": "…", "advice": ["…"]}`.
    /// Each destination has `closes_per_s_estimate` (from its TIME_WAIT sockets), and `closes` and
    /// `closes_per_s` measured over the sample window (`null` without one). Utilizations are fractions (1.0 is
    /// full), rates per second; both rounded to four decimals.
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
        Self.writeDecimal(report.portsInUseUtilization, into: &out)
        out.write("},\"settings\":{\"ip_local_reserved_ports\":")
        out.writeJSONString(report.settings.reserved.description)
        out.write(",\"tcp_tw_reuse\":")
        Self.writeOptional(report.settings.tcpTWReuse, into: &out)
        out.write(",\"tcp_max_tw_buckets\":")
        Self.writeOptional(report.settings.tcpMaxTWBuckets, into: &out)
        out.write(",\"tcp_fin_timeout\":")
        Self.writeOptional(report.settings.tcpFinTimeout, into: &out)
        out.write(",\"tcp_timestamps\":")
        Self.writeOptional(report.settings.tcpTimestamps, into: &out)
        out.write(",\"tcp_tw_reuse_delay\":")
        Self.writeOptional(report.settings.tcpTWReuseDelay, into: &out)
        out.write("},\"destinations\":[")
        let shown = report.destinations.prefix(top)
        for (i, d) in shown.enumerated() {
            if i > 0 { out.write(",") }
            Self.writeDestinationKey(d.destination, into: &out)
            out.write(",\"used\":")
            out.write(UInt64(d.used))
            out.write(",\"capacity\":")
            out.write(signed: Int64(d.capacity))
            out.write(",\"utilization\":")
            Self.writeDecimal(d.utilization, into: &out)
            out.write(",\"reusable_time_wait\":")
            out.write(UInt64(d.reusableTimeWait))
            out.write(",\"effective_utilization\":")
            Self.writeDecimal(d.effectiveUtilization, into: &out)
            out.write(",\"closes_per_s_estimate\":")
            Self.writeDecimal(d.closesPerSecondEstimate, into: &out)
            out.write(",\"closes\":")
            Self.writeOptional(d.sampledCloses, into: &out)
            out.write(",\"closes_per_s\":")
            Self.writeDecimal(d.closesPerSecond, into: &out)
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
        Self.writeDecimal(report.udp.utilization, into: &out)
        out.write(",\"connected\":")
        out.write(UInt64(report.udp.states[.established]))
        out.write(",\"unconnected\":")
        out.write(UInt64(report.udp.sockets) - report.udp.states[.established])
        out.write("},\"sample\":")
        if let sample = report.sample {
            out.write("{\"seconds\":")
            Self.writeDecimal(sample.seconds, into: &out)
            out.write(",\"closes\":")
            out.write(UInt64(sample.closes))
            out.write(",\"closes_per_s\":")
            Self.writeDecimal(sample.closesPerSecond, into: &out)
            out.write(",\"dropped_events\":")
            out.write(sample.droppedEvents)
            out.write("}")
        } else {
            out.write("null")
        }
        out.write(",\"verdict\":")
        out.writeJSONString(report.verdict.rawValue)
        out.write(",\"summary\":")
        out.writeJSONString(Self.summary(report))
        out.write(",\"advice\":[")
        for (i, line) in Self.advice(report).enumerated() {
            if i > 0 { out.write(",") }
            out.writeJSONString(line)
        }
        out.write("]}\n")
    }

    /// An integer as JSON, `null` for none.
    static func writeOptional(_ value: Int?, into out: inout TextWriter) {
        if let value { out.write(signed: Int64(value)) } else { out.write("null") }
    }

    /// A count as JSON, `null` for none.
    static func writeOptional(_ value: UInt64?, into out: inout TextWriter) {
        if let value { out.write(value) } else { out.write("null") }
    }

    /// ``writeDecimal(_:into:)``, `null` for none.
    static func writeDecimal(_ value: Double?, into out: inout TextWriter) {
        if let value { writeDecimal(value, into: &out) } else { out.write("null") }
    }

    /// `{"local_address":…,"remote_address":…,"remote_port":…`: a destination object's opening, its key.
    static func writeDestinationKey(_ destination: Destination, into out: inout TextWriter) {
        out.write("{\"local_address\":")
        out.writeJSONString(destination.localAddress.description)
        out.write(",\"remote_address\":")
        out.writeJSONString(destination.remoteAddress.description)
        out.write(",\"remote_port\":")
        out.write(destination.remotePort)
    }

    /// A number of at least 0 as JSON, with at most four decimals (`0.975`, `1.0`, `400.25`).
    static func writeDecimal(_ value: Double, into out: inout TextWriter) {
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
                + "(\(Self.percentText(report.portsInUseUtilization))); the limit for bind() before connect()\n\n"
        )

        if report.destinations.isEmpty {
            out.write("No outgoing TCP connection holds an ephemeral port.\n")
        } else {
            let shown = Array(report.destinations.prefix(top))
            let header = ["LOCAL", "REMOTE", "USED", "CAP", "UTIL", "", "CLOSES/S", "STATES"]
            var rows = [header]
            for d in shown {
                var states = d.states.nonZero.map { "\($0.state.name) \($0.count)" }.joined(separator: ", ")
                if d.reusableTimeWait > 0 { states += " (\(d.reusableTimeWait) time-wait reusable)" }
                rows.append([
                    d.destination.localAddress.description,
                    Endpoint(address: d.destination.remoteAddress, port: d.destination.remotePort).description,
                    // UTIL is what the verdict and the order use: TIME_WAIT that connect() may take over
                    // (tcp_tw_reuse) is left out; USED counts every socket.
                    String(d.used), String(d.capacity), Self.percentText(d.effectiveUtilization),
                    Self.bar(d.effectiveUtilization),
                    Self.rateText(d.closesPerSecond ?? d.closesPerSecondEstimate), states,
                ])
            }
            Self.writeColumns(rows, rightAligned: [2, 3, 4, 6], into: &out)
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
            out.write(Self.closesFootnote(report, shown: shown) + "\n")
        }
        let udp = report.udp
        if udp.capacity <= 0 {
            out.write(
                "\nUDP: \(udp.sockets) socket\(udp.sockets == 1 ? "" : "s"); every port of the range is reserved\n")
        } else {
            out.write(
                "\nUDP: \(udp.sockets) socket\(udp.sockets == 1 ? "" : "s") on \(udp.ports) port"
                    + "\(udp.ports == 1 ? "" : "s") of \(udp.capacity) (\(Self.percentText(udp.utilization)))\n")
        }
        out.write("\nVerdict: \(report.verdict.rawValue.uppercased()): \(Self.summary(report))\n")
        let advice = Self.advice(report)
        if !advice.isEmpty {
            out.write("Advice:\n")
            for (i, line) in advice.enumerated() { out.write("  \(i + 1). \(line)\n") }
        }
    }

    /// What the CLOSES/S column is: measured over the sample window, or estimated from TIME_WAIT.
    static func closesFootnote(_ report: PortReport, shown: [DestinationReport]) -> String {
        if let sample = report.sample {
            var text =
                "CLOSES/S: connections to each that ended, per second, measured over "
                + "\(TextWriter.string { $0.write(sample.seconds, decimals: 1) }) s of the kernel's destroy events "
                + "(\(sample.closes) in all)"
            if sample.droppedEvents > 0 { text += "; \(sample.droppedEvents) events dropped: counts are low" }
            return text
        }
        var text =
            "CLOSES/S: closes made here per second over the last minute, time-wait / \(PortReport.timeWaitSeconds) "
            + "(TIME_WAIT holds the port \(PortReport.timeWaitSeconds) s after each); --sample 5s measures all closes"
        if shown.contains(where: { $0.timeWaitSpanSeconds != Double(PortReport.timeWaitSeconds) }) {
            text +=
                "\nWhere tcp_tw_reuse applies, over the age of the oldest TIME_WAIT socket instead (connect() takes "
                + "older ones over)"
        }
        return text
    }

    /// A rate per second with one decimal (`400.0`, `0.3`).
    static func rateText(_ perSecond: Double) -> String { TextWriter.string { $0.write(perSecond, decimals: 1) } }

    /// Writes `rows` (the header first) as columns two spaces apart, each as wide as its widest cell, those in
    /// `rightAligned` aligned right; the last column is not padded and no line ends in spaces.
    static func writeColumns(_ rows: [[String]], rightAligned: Set<Int>, into out: inout TextWriter) {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.enumerated() {
                if i == widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        for row in rows {
            var text = ""
            for (i, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[i] - cell.count)
                if i == row.count - 1 {
                    text += rightAligned.contains(i) ? padding + cell : cell
                } else {
                    text += rightAligned.contains(i) ? padding + cell : cell + padding
                    text += "  "
                }
            }
            while text.last == " " { text.removeLast() }
            out.write(text + "\n")
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

    // MARK: Summary and advice

    /// One line on what the verdict is about.
    public static func summary(_ report: PortReport) -> String {
        var text: String
        if report.capacity <= 0 {
            text =
                "no port of \(report.settings.range) is left for connect(): \(report.reserved) reserved, \(report.boundPorts.count) bound"
        } else if report.udpIsWorse {
            text =
                "UDP sockets hold \(report.udp.ports) of \(report.udp.capacity) ports (\(percentText(report.udp.utilization)))"
        } else if let top = report.destinations.first {
            text =
                "\(top.destination) uses \(top.used) of \(top.capacity) ports (\(percentText(top.utilization)))"
            if top.reusableTimeWait > 0 {
                text +=
                    ", \(top.reusableTimeWait) of them in TIME_WAIT that tcp_tw_reuse lets connect() take over: "
                    + "\(percentText(top.effectiveUtilization)) blocked"
            }
        } else {
            text = "no outgoing TCP connection holds an ephemeral port"
        }
        return text
    }

    /// What to do, most effective first: empty when the verdict is ok, but for a note when all connections
    /// together hold most of the range.
    public static func advice(_ report: PortReport) -> [String] {
        var advice =
            report.verdict == .ok
            ? []
            : advice(
                settings: report.settings, capacity: report.capacity, hot: report.destinations.first, udp: report.udp,
                udpIsWorse: report.udpIsWorse)
        let (capacity, portsInUse) = (report.capacity, report.portsInUse)
        let portsInUseUtilization = report.portsInUseUtilization
        // Not part of the verdict (sharing ports across destinations is what connect() does), but worth
        // saying when most of the range is taken overall.
        if capacity > 0 && portsInUseUtilization * 100 >= report.thresholds.warn - 1e-9 {
            advice.append(
                "All connections together hold \(portsInUse) of \(capacity) ports "
                    + "(\(percentText(portsInUseUtilization))). Programs that bind() a source address before "
                    + "connect() cannot share ports across destinations and fail at this limit: set "
                    + "IP_BIND_ADDRESS_NO_PORT before bind(), or let connect() choose the address.")
        }
        return advice
    }

    /// `97.5%`: one decimal, rounded (``TextWriter/write(percent:)``).
    public static func percentText(_ fraction: Double) -> String { TextWriter.string { $0.write(percent: fraction) } }

    /// The advice after reusing connections, for a destination short of ports, most effective first: more
    /// source addresses; a wider range (unless it is already 1024–65535); `tcp_tw_reuse=1` when it does not
    /// apply yet and `timeWait` (this side closes first).
    static func portAdvice(settings: PortSettings, capacity: Int, destination: Destination, timeWait: Bool)
        -> [String]
    {
        var advice: [String] = []
        let range = settings.range
        let target = Endpoint(address: destination.remoteAddress, port: destination.remotePort)
        advice.append(
            "Add source addresses: each local address has its own \(capacity) ports to \(target). Bind to one "
                + "before connect() with IP_BIND_ADDRESS_NO_PORT set, so that bind() takes no port of its own "
                + "and connect() still shares ports across destinations.")
        if range.low > 1024 || range.high < 65535 {
            advice.append(
                "Widen net.ipv4.ip_local_port_range (now \(range.low) \(range.high), \(range.count) ports; "
                    + "1024 65535 gives 64512), listing ports that servers bind in "
                    + "net.ipv4.ip_local_reserved_ports so connect() never takes them.")
        }
        if timeWait && !settings.timeWaitReuseApplies(to: destination) {
            var now = settings.tcpTWReuse.map { $0 == 2 ? "now 2: loopback only" : "now \($0)" } ?? "unread"
            if settings.tcpTimestamps == 0 { now += "; tcp_timestamps is 0" }
            advice.append(
                "Set net.ipv4.tcp_tw_reuse=1 (\(now)) so connect() may take over a TIME_WAIT port to the same "
                    + "destination once it is \(settings.timeWaitReuseDelayMilliseconds) ms old (tcp_tw_reuse_delay). Caveats: it only helps outgoing connections (the "
                    + "side that closed first), needs TCP timestamps (net.ipv4.tcp_timestamps=1) on both ends, "
                    + "and is safe for clients; it does nothing for a server's own TIME_WAIT sockets.")
        }
        return advice
    }

    /// The advice, in the order that helps most for least risk.
    private static func advice(
        settings: PortSettings, capacity: Int, hot: DestinationReport?, udp: UDPPortReport, udpIsWorse: Bool
    ) -> [String] {
        var advice: [String] = []
        let range = settings.range
        if let hot, !udpIsWorse, capacity > 0 {
            let target = Endpoint(address: hot.destination.remoteAddress, port: hot.destination.remotePort)
            let timeWait = hot.states[.timeWait]
            let perSecondTenths = capacity * 10 / PortReport.timeWaitSeconds
            advice.append(
                "Reuse connections to \(target) (HTTP keep-alive, a connection pool): it holds \(hot.used) of "
                    + "\(capacity) ports, \(timeWait) of them in TIME_WAIT, which keeps a port \(PortReport.timeWaitSeconds) s "
                    + "after each close made on this side; one new connection per request sustains at most about "
                    + "\(perSecondTenths / 10).\(perSecondTenths % 10) per second (\(capacity) ports / "
                    + "\(PortReport.timeWaitSeconds) s).")
            advice += portAdvice(
                settings: settings, capacity: capacity, destination: hot.destination, timeWait: timeWait > 0)
        } else if capacity <= 0 {
            advice.append(
                "Every port of net.ipv4.ip_local_port_range (\(range.low) \(range.high)) is reserved or bound: "
                    + "widen the range or shrink net.ipv4.ip_local_reserved_ports.")
        }
        if udp.sockets > 0 && (udpIsWorse || udp.utilization * 100 >= 50) {
            advice.append(
                "UDP sockets hold \(udp.ports) of \(udp.capacity) ports of the range, one each until closed: reuse "
                    + "sockets (one per worker or per peer) rather than one per request, or widen the range.")
        }
        return advice
    }
}
