import SockDiag
import SockReport

/// Writes socket counts as `sockscan count` prints them: per state (``StateCounts``, TCP and UDP apart when both
/// were counted), or grouped by an attribute (``SocketBreakdown``), as a table, one JSON object or CSV.
public struct CountFormatter: Sendable {
    /// Whether the table and CSV start with a header line.
    public var header: Bool

    public init(header: Bool = true) { self.header = header }

    // MARK: Per state

    /// The counts per state, with each protocol's own when both were counted (unconnected UDP sockets are in
    /// state close, which TCP has too).
    public struct PerState: Sendable {
        /// Every socket counted.
        public var counts: StateCounts
        /// TCP's and UDP's counts, when both protocols were counted.
        public var split: (tcp: StateCounts, udp: StateCounts)?
        /// The states the scan could return: JSON and CSV list each one, zeros too (scripts can rely on the
        /// keys).
        public var states: StateSet
        /// Whether the filter named states: the table then lists each of ``states``, zeros too; otherwise the
        /// states with sockets.
        public var namedStates: Bool

        public init(
            counts: StateCounts, split: (tcp: StateCounts, udp: StateCounts)?, states: StateSet, namedStates: Bool
        ) {
            self.counts = counts
            self.split = split
            self.states = states
            self.namedStates = namedStates
        }
    }

    /// `{"total":N,"established":n,…}`, with `"tcp":{…}` and `"udp":{…}` of the same shape when split, and a
    /// newline.
    public func writeJSON(_ c: PerState, into out: inout TextWriter) {
        let rows = c.states.states
        func object(_ counts: StateCounts) {
            out.write("{\"total\":")
            out.write(counts.total)
            for state in rows {
                out.write(",")
                out.writeJSONString(state.name)
                out.write(":")
                out.write(counts[state])
            }
        }
        object(c.counts)
        if let split = c.split {
            out.write(",\"tcp\":")
            object(split.tcp)
            out.write("},\"udp\":")
            object(split.udp)
            out.write("}")
        }
        out.write("}\n")
    }

    /// `state,count` rows (`state,count,tcp,udp` when split), then `total`.
    public func writeCSV(_ c: PerState, into out: inout TextWriter) {
        if header { out.write(c.split == nil ? "state,count\n" : "state,count,tcp,udp\n") }
        func row(_ name: String, _ pick: (StateCounts) -> UInt64) {
            out.write(name)
            out.write(",")
            out.write(pick(c.counts))
            if let split = c.split {
                out.write(",")
                out.write(pick(split.tcp))
                out.write(",")
                out.write(pick(split.udp))
            }
            out.write("\n")
        }
        for state in c.states.states { row(state.name) { $0[state] } }
        row("total") { $0.total }
    }

    /// `State  Count` rows (and TCP and UDP columns, right-aligned, when split), then `total`.
    public func writeTable(_ c: PerState, into out: inout TextWriter) {
        let rows = c.states.states
        let counts = c.counts
        guard let split = c.split else {
            if header { out.write("State        Count\n") }
            for state in rows where counts[state] > 0 || c.namedStates {
                out.write(state.name)
                out.pad(13 - state.name.utf8.count)
                out.write(counts[state])
                out.write("\n")
            }
            out.write("total        ")
            out.write(counts.total)
            out.write("\n")
            return
        }
        // State, then TCP, UDP and Count right-aligned.
        let width = max(String(counts.total).utf8.count, 5)
        func row(_ name: String, _ values: [String]) {
            out.write(name)
            out.pad(11 - name.utf8.count)
            for value in values {
                out.pad(width + 2 - value.utf8.count)
                out.write(value)
            }
            out.write("\n")
        }
        if header { row("State", ["TCP", "UDP", "Count"]) }
        for state in rows where counts[state] > 0 || c.namedStates {
            row(state.name, [split.tcp[state], split.udp[state], counts[state]].map { String($0) })
        }
        row("total", [split.tcp.total, split.udp.total, counts.total].map { String($0) })
    }

    // MARK: Grouped

    /// `{"total":N,"by":"dport","groups":[{"key":443,"count":n},…]}` (ports as numbers, other keys as strings;
    /// process groups add `pid` and `comm`), with `"other":{"groups":g,"count":n}` when `top` was given, and a
    /// newline.
    public func writeJSON(_ breakdown: SocketBreakdown, top: Int?, into out: inout TextWriter) {
        let ranking = breakdown.groups(top: top)
        out.write("{\"total\":")
        out.write(breakdown.total)
        out.write(",\"by\":")
        out.writeJSONString(breakdown.dimension.rawValue)
        out.write(",\"groups\":[")
        for (i, group) in ranking.groups.enumerated() {
            if i > 0 { out.write(",") }
            out.write("{\"key\":")
            switch group.key {
            case .port(let port): out.write(port)
            case .process(let pid, let comm):
                out.writeJSONString(group.key.description)
                out.write(",\"pid\":")
                out.write(signed: Int64(pid))
                out.write(",\"comm\":")
                out.writeJSONString(comm)
            default: out.writeJSONString(group.key.description)
            }
            out.write(",\"count\":")
            out.write(group.count)
            out.write("}")
        }
        out.write("]")
        if top != nil {
            out.write(",\"other\":{\"groups\":")
            out.write(UInt64(ranking.otherGroups))
            out.write(",\"count\":")
            out.write(ranking.otherCount)
            out.write("}")
        }
        out.write("}\n")
    }

    /// A `key,count` header, one row per group, then `(other)` when `top` left groups out.
    public func writeCSV(_ breakdown: SocketBreakdown, top: Int?, into out: inout TextWriter) {
        let ranking = breakdown.groups(top: top)
        if header {
            out.write(breakdown.dimension.rawValue)
            out.write(",count\n")
        }
        for group in ranking.groups {
            out.writeCSVField(group.key.description)
            out.write(",")
            out.write(group.count)
            out.write("\n")
        }
        if ranking.otherGroups > 0 {
            out.write("(other),")
            out.write(ranking.otherCount)
            out.write("\n")
        }
    }

    /// `KEY  COUNT` rows, counts right-aligned, an `other` line when `top` left groups out, then `total`.
    public func writeTable(_ breakdown: SocketBreakdown, top: Int?, into out: inout TextWriter) {
        let ranking = breakdown.groups(top: top)
        let name = breakdown.dimension.rawValue
        // A process name may hold a newline or other control characters: escaped, one line per group.
        let keys = ranking.groups.map { group in TextWriter.string { $0.writeTableText(group.key.description) } }
        let keyWidth = max(keys.map(\.utf8.count).max() ?? 0, name.utf8.count, "total".utf8.count) + 2
        let countWidth = max(String(breakdown.total).utf8.count, "COUNT".utf8.count)
        func row(_ key: String, _ count: String) {
            out.write(key)
            out.pad(keyWidth - key.utf8.count + countWidth - count.utf8.count)
            out.write(count)
        }
        if header {
            row(name.uppercased(), "COUNT")
            out.write("\n")
        }
        for (key, group) in zip(keys, ranking.groups) {
            row(key, String(group.count))
            out.write("\n")
        }
        if ranking.otherGroups > 0 {
            row("other", String(ranking.otherCount))
            out.write("  (\(ranking.otherGroups) groups)\n")
        }
        row("total", String(breakdown.total))
        out.write("\n")
    }
}

/// Writes what `sockscan summary` prints: the `sar -n SOCK` totals of `/proc/net/sockstat` and the TCP sockets
/// per state, as a table or one JSON object.
public struct SummaryFormatter: Sendable {
    public init() {}

    /// The sar columns, IPv4 first then IPv6, each with its name.
    private static func columns(_ stat: Sockstat) -> (v4: [(String, UInt64)], v6: [(String, UInt64)]) {
        let all = SarColumn.allCases.map { ($0.name, $0.value(in: stat)) }
        return (Array(all.prefix(6)), Array(all.dropFirst(6)))
    }

    /// `{"totsck":n,…,"tcp_states":{"established":n,…},"tcp_total":n}` and a newline.
    public func writeJSON(_ stat: Sockstat, tcp counts: StateCounts, into out: inout TextWriter) {
        let (sar, sar6) = Self.columns(stat)
        out.write("{")
        for (i, (name, value)) in (sar + sar6).enumerated() {
            if i > 0 { out.write(",") }
            out.writeJSONString(name)
            out.write(":")
            out.write(value)
        }
        out.write(",\"tcp_states\":{")
        for (i, state) in TCPState.allCases.enumerated() {
            if i > 0 { out.write(",") }
            out.writeJSONString(state.name)
            out.write(":")
            out.write(counts[state])
        }
        out.write("},\"tcp_total\":")
        out.write(counts.total)
        out.write("}\n")
    }

    /// The sar columns (IPv4, then IPv6), TCP's orphan, alloc and mem line, and the TCP states with sockets.
    public func writeTable(_ stat: Sockstat, tcp counts: StateCounts, into out: inout TextWriter) {
        let (sar, sar6) = Self.columns(stat)
        func columns(_ values: [(String, UInt64)]) {
            for (name, _) in values {
                out.pad(10 - name.utf8.count)
                out.write(name)
            }
            out.write("\n")
            for (_, value) in values {
                out.pad(10 - String(value).utf8.count)
                out.write(value)
            }
            out.write("\n")
        }
        out.write("Sockets (sar -n SOCK)\n")
        columns(sar)
        columns(sar6)
        out.write("TCP: orphan ")
        out.write(stat.tcpOrphan)
        out.write(", alloc ")
        out.write(stat.tcpAllocated)
        out.write(", mem ")
        out.write(stat.tcpMemoryPages)
        out.write(" pages\n\nTCP states (one kernel pass, IPv4 and IPv6)\n")
        for (state, count) in counts.nonZero {
            out.write(state.name)
            out.pad(16 - state.name.utf8.count - String(count).utf8.count)
            out.write(count)
            out.write("\n")
        }
        out.write("total")
        out.pad(11 - String(counts.total).utf8.count)
        out.write(counts.total)
        out.write("\n")
    }
}
