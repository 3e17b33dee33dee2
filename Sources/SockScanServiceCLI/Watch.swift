import ArgumentParser
import SockScanCLI
import SockDiag
import SockFormat
import SockHistory
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

public struct Watch: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print socket counts every interval, like sar -n SOCK 1, with TCP states.",
        discussion: """
            Each row: the time, sar's columns from /proc/net/sockstat (totsck tcpsck udpsck rawsck ip-frag \
            tcp-tw tcp6sck udp6sck raw6sck ip6-frag), then TCP sockets per state from one kernel dump (estab \
            synsent closewait timewait listen, and the other states summed). A filter narrows the state counts \
            (not the sockstat totals, which the kernel keeps per namespace). The header is repeated every 20 \
            rows; Ctrl-C (or --count) ends with an Average: line. --db also records each row into a history \
            database, as sockscan record does. With --netns, it stops (exit 1) when the namespace is gone: the \
            process named by PID exited, or the name was deleted.

            Examples:
              sockscan watch                            every second until Ctrl-C
              sockscan watch --interval 5s --count 12   one minute
              sockscan watch --interval 10              every 10 seconds
              sockscan watch dport = :443               states of connections to port 443
              sockscan watch --db /tmp/incident.db      and keep the rows for report
            """
    )

    @Option(
        name: .customLong("interval"), parsing: .unconditional,
        help: ArgumentHelp("Time between rows: 500ms 1s 10s 1m, or seconds (default: 1s).", valueName: "DURATION"),
        transform: TimeSpan.argument(.interval))
    var interval = TimeSpan.seconds(1)

    @Option(
        name: .customLong("count"), parsing: .unconditional, help: ArgumentHelp("Stop after N rows.", valueName: "N"))
    var count: Int?

    @Option(
        name: .customLong("db"),
        help: ArgumentHelp("Also record the rows into this history database.", valueName: "PATH"))
    var db: String?

    @Option(.netns) var netns: String?

    @Argument(
        parsing: .remaining,
        help: ArgumentHelp(
            "A filter in ss syntax for the state counts (see sockscan list --help).", valueName: "filter"))
    var filter: [String] = []

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        try requireNonEmpty(db, "--db")
        if let count, count < 1 { throw ValidationError("--count must be at least 1 (got \(count))") }
    }

    public func run() throws {
        StopSignals.block()
        try runtime {
            let filter = try parseFilterWords(filter)
            let namespace = try namespace(netns)
            let sampler = try Sampler(namespace: namespace, filter: filter, logger: Console.logger())
            let store = try db.map { try HistoryStore.openForRecording(path: $0) }
            let run = store.map { _ in
                HistoryStore.RunInfo(
                    started: Clock.wall(), pid: getpid(), host: hostName(), netns: netns,
                    filter: filter?.description, interval: interval, fullEvery: nil,
                    version: SockScanRoot.version)
            }
            let recorder = Recorder(
                sampler: sampler, store: store, run: run, schedule: Schedule(interval: interval))
            recorder.count = count
            recorder.onLog = { Console.warn("sockscan watch: \($0)") }
            recorder.logEvery = .seconds(86_400)
            var formatter = HistoryFormatter()
            formatter.showPort = false
            // Sums, not the samples: memory stays flat however long it watches.
            var average = RunningAverage()
            recorder.onSample = { sample, _ in
                if average.count % 20 == 0 {
                    if average.count > 0 { try printLine("") }
                    try printLine(formatter.header(time: sample.time))
                }
                average.add(sample)
                try printLine(formatter.line(HistoryReport.rows([sample])[0]))
            }
            _ = try recorder.run()  // marks the run stopped on its way out, an error's too
            if let row = average.row { try printLine(formatter.averageLine(row)) }
        }
    }
}
