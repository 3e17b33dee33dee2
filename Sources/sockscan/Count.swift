import ArgumentParser
import SockDiag
import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

extension SocketBreakdown.Dimension: ExpressibleByArgument {}

struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count sockets per state, or grouped by address, port or process.",
        discussion: """
            Without --by, sockets are counted per state. With --by, they are grouped by one attribute while \
            the kernel streams them (one counter per distinct value, nothing kept per socket), sorted by count, \
            largest first, with a total line:
              state     the TCP state
              local     the local address
              remote    the remote address
              sport     the local port
              dport     the remote port
              process   the process holding the socket, as comm[pid]: the lowest pid
                        when several share it; '-' for none (TIME_WAIT, or another
                        user's process when not root). One walk of /proc/*/fd.
            --top N keeps the N largest groups and sums the rest into one 'other' line.

            JSON, without --by: {"total": N, "established": n, ...} with a key for every state the \
            scan covers (-a: all, -l: listen and close, default: the connected ones, narrowed by state \
            words), zeros included; CSV: state,count rows for the same states, then a total row. With -t \
            and -u both, each protocol is counted apart too (unconnected UDP is in state close): JSON adds \
            "tcp": {...} and "udp": {...} of the same shape, CSV and the table add TCP and UDP columns. With --by: {"total": N, "by": "dport", \
            "groups": [{"key": 443, "count": n}, ...], "other": {"groups": g, "count": n}} (ports are numbers, \
            other keys strings; process groups add "pid" and "comm"). CSV: a header row (key,count), one row per \
            group, then "(other)" when --top left groups out.

            Examples:
              sockscan count -ta                    TCP sockets per state
              sockscan count -t state time-wait     the TIME_WAIT count (kernel-filtered)
              sockscan count -tua --format json     per state, and per protocol
              sockscan count -t state time-wait --by dport --top 5
                                                    which upstream ports hold TIME_WAIT
              sockscan count -ta --by process --format json

            A worked example (a gateway talking to two upstreams):
              $ sockscan count -t state established --by dport --top 2
              DPORT  COUNT
              443     1874
              5432     212
              other     31  (4 groups)
              total   2117
            """
    )

    @OptionGroup var scan: ScanOptions

    @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Do not print the header line.")
    var noHeader = false

    @Option(
        name: .customLong("by"),
        help: ArgumentHelp(
            "Group by: state, local, remote, sport, dport or process.", valueName: "attribute"))
    var by: SocketBreakdown.Dimension?

    @Option(
        name: .customLong("top"), parsing: .unconditional,
        help: ArgumentHelp("With --by: show the N largest groups, the rest as one 'other' line.", valueName: "N"))
    var top: Int?

    @Option(name: .customLong("format"), help: "Output format: table, json (one object) or csv.")
    var format: RowFormat = .table

    mutating func validate() throws {
        if let top {
            guard top >= 1 else { throw ValidationError("--top must be at least 1 (got \(top))") }
            guard by != nil else { throw ValidationError("--top needs --by (for example --by dport --top \(top))") }
        }
    }

    func run() throws {
        let query = try scan.query()
        try runtime {
            let scanner = try scan.makeScanner()
            if scan.explain { return try scan.printExplanation(scanner, query) }
            var out = TextWriter()
            if let by {
                var breakdown = SocketBreakdown(by: by)
                try scanner.forEach(query) { breakdown.add($0) }
                if by == .process {
                    let owners = try ProcessTable(resolving: breakdown.pendingInodes)
                    if owners.statistics.deniedProcesses > 0 {
                        Console.warn(
                            "sockscan: note: \(owners.statistics.deniedProcesses) processes could not be inspected (their /proc/PID/fd needs root or CAP_SYS_PTRACE); their sockets count as '-'"
                        )
                    }
                    breakdown.attribute(using: owners)
                }
                write(breakdown, into: &out)
            } else {
                // The states the scan can return: -a/-l/the default, narrowed by the filter's state words.
                let states =
                    try query.filter.map { try scanner.kernelProgram(for: $0, baseStates: query.states).states }
                    ?? query.states
                let named = query.filter?.expression.mentionsState == true
                // Per protocol as well when both are counted: unconnected UDP sockets are in state close,
                // which TCP has too.
                // Only each message's state is read: no record is built.
                let (tcp, udp) = try scanner.countPerProtocol(query)
                let split = query.protocols == .all ? (tcp: tcp, udp: udp) : nil
                write(tcp + udp, split: split, states: states, named: named, into: &out)
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }

    /// Per state. JSON and CSV list every state of `states` (zeros too: scripts can rely on the keys); the
    /// table lists the states with sockets, and every one of `states` when the filter `named` states.
    /// With `split` (both protocols counted), each protocol's counts too: `"tcp"` and `"udp"` objects of
    /// the same shape in JSON, `tcp,udp` columns in CSV and in the table.
    private func write(
        _ counts: StateCounts, split: (tcp: StateCounts, udp: StateCounts)?, states: StateSet, named: Bool,
        into out: inout TextWriter
    ) {
        let rows = states.states
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
        switch format {
        case .json:
            object(counts)
            if let split {
                out.write(",\"tcp\":")
                object(split.tcp)
                out.write("},\"udp\":")
                object(split.udp)
                out.write("}")
            }
            out.write("}\n")
        case .csv:
            if !noHeader { out.write(split == nil ? "state,count\n" : "state,count,tcp,udp\n") }
            func row(_ name: String, _ pick: (StateCounts) -> UInt64) {
                out.write(name)
                out.write(",")
                out.write(pick(counts))
                if let split {
                    out.write(",")
                    out.write(pick(split.tcp))
                    out.write(",")
                    out.write(pick(split.udp))
                }
                out.write("\n")
            }
            for state in rows { row(state.name) { $0[state] } }
            row("total") { $0.total }
        case .table:
            guard let split else {
                if !noHeader { out.write("State        Count\n") }
                for state in rows where counts[state] > 0 || named {
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
            if !noHeader { row("State", ["TCP", "UDP", "Count"]) }
            for state in rows where counts[state] > 0 || named {
                row(state.name, [split.tcp[state], split.udp[state], counts[state]].map { String($0) })
            }
            row("total", [split.tcp.total, split.udp.total, counts.total].map { String($0) })
        }
    }

    private func write(_ breakdown: SocketBreakdown, into out: inout TextWriter) {
        let ranking = breakdown.groups(top: top)
        let name = breakdown.dimension.rawValue
        switch format {
        case .json:
            out.write("{\"total\":")
            out.write(breakdown.total)
            out.write(",\"by\":")
            out.writeJSONString(name)
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
        case .csv:
            if !noHeader {
                out.write(name)
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
        case .table:
            // A process name may hold a newline or other control characters: escaped, one line per group.
            let keys = ranking.groups.map { group in
                var cell = TextWriter()
                cell.writeTableText(group.key.description)
                return cell.string
            }
            let keyWidth = max(keys.map(\.utf8.count).max() ?? 0, name.utf8.count, "total".utf8.count) + 2
            let countWidth = max(String(breakdown.total).utf8.count, "COUNT".utf8.count)
            func row(_ key: String, _ count: String) {
                out.write(key)
                out.pad(keyWidth - key.utf8.count + countWidth - count.utf8.count)
                out.write(count)
            }
            if !noHeader {
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
}
