import ArgumentParser
import SockDiag
import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

extension SocketBreakdown.Dimension: ExpressibleByArgument {
    // Stored: ArgumentParser's defaults map `allCases` anew each time it builds `--by` (see FormatChoice).
    public static let allValueStrings = allCases.map(\.rawValue)
    public static var allValueDescriptions: [String: String] { [:] }
}

public struct Count: ScanCommand, ScanSelection {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "count",
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
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    // The ss selection (ScanSelection), first so that --help lists it first.
    @Flag(.tcp) var tcp = false
    @Flag(.udp) var udp = false
    @Flag(.ipv4) var ipv4 = false
    @Flag(.ipv6) var ipv6 = false
    @Flag(exclusivity: .chooseLast) var stateSelection: StateSelection?
    @Flag(.numeric) var numeric = false
    @Option(.netns) var netns: String?
    @Flag(.proc) var proc = false
    @Option(.tcpStrategy) var tcpStrategy: TCPDumpStrategy = .automatic
    @Flag(.explain) var explain = false
    @Argument(.filter) var filter: [String] = []

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

    @Option(.format) var format: RowFormat = .table

    public mutating func validate() throws {
        try validateSelection()
        if let top {
            guard top >= 1 else { throw ValidationError("--top must be at least 1 (got \(top))") }
            guard by != nil else { throw ValidationError("--top needs --by (for example --by dport --top \(top))") }
        }
    }

    public func run() throws {
        try runtime {
            let query = try query()
            let scanner = try makeScanner()
            let prepared = try scanner.prepare(query)  // once: the scan, --explain and the states printed
            if explain { return try printExplanation(prepared) }
            var out = TextWriter()
            if let by {
                var breakdown = SocketBreakdown(by: by)
                try scanner.forEach(prepared) { breakdown.add($0) }
                if by == .process {
                    let owners = try ProcessTable(resolving: breakdown.pendingInodes)
                    if owners.statistics.deniedProcesses > 0 {
                        Console.warn(
                            "sockscan: note: \(owners.statistics.deniedProcesses) processes could not be inspected (their /proc/PID/fd needs root or CAP_SYS_PTRACE); their sockets count as '-'"
                        )
                    }
                    breakdown.attribute(using: owners)
                }
                let formatter = CountFormatter(header: !noHeader)
                switch format {
                case .json: formatter.writeJSON(breakdown, top: top, into: &out)
                case .csv: formatter.writeCSV(breakdown, top: top, into: &out)
                case .table: formatter.writeTable(breakdown, top: top, into: &out)
                }
            } else {
                // The states the scan can return: -a/-l/the default, narrowed by the filter's state words.
                let states = prepared.states
                let named = query.filter?.expression.mentionsState == true
                // Per protocol as well when both are counted: unconnected UDP sockets are in state close,
                // which TCP has too.
                // Only each message's state is read: no record is built.
                let (tcp, udp) = try scanner.countPerProtocol(prepared)
                let split = query.protocols == .all ? (tcp: tcp, udp: udp) : nil
                let counts = CountFormatter.PerState(
                    counts: tcp + udp, split: split, states: states, namedStates: named)
                let formatter = CountFormatter(header: !noHeader)
                switch format {
                case .json: formatter.writeJSON(counts, into: &out)
                case .csv: formatter.writeCSV(counts, into: &out)
                case .table: formatter.writeTable(counts, into: &out)
                }
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}
