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
            synsent closewait timewait listen, and the other states summed), then closes/s: the TCP connections \
            this host opened (its local port in ip_local_port_range) that ended since the previous row, per \
            second, counted from the kernel's destroy events (- in the first row; each one this side closed \
            first holds its port in TIME_WAIT for 60 s). With --top N, the N destinations (local address, remote \
            address, remote port) with the most closes follow each row. Counting closes needs no privilege; where \
            the kernel refuses it (a seccomp or container policy) the column is left out, with a warning. A filter narrows the state counts (not the \
            sockstat totals or the closes, which are the namespace's). The header is repeated every 20 \
            rows; Ctrl-C (or --count) ends with an Average: line. --db also records each row into a history \
            database, as sockscan record does. With --netns, it stops (exit 1) when the namespace is gone: the \
            process named by PID exited, or the name was deleted.

            Examples:
              sockscan watch                            every second until Ctrl-C
              sockscan watch --interval 5s --count 12   one minute
              sockscan watch --interval 10              every 10 seconds
              sockscan watch dport = :443               states of connections to port 443
              sockscan watch --top 3                    and the 3 destinations closing most
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

    @Option(
        name: .customLong("top"), parsing: .unconditional,
        help: ArgumentHelp(
            "Under each row, the N destinations with the most closes per second (default 0).", valueName: "N"))
    var top = 0

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
        guard (0...1000).contains(top) else { throw ValidationError("--top must be from 0 to 1000 (got \(top))") }
    }

    public func run() throws {
        StopSignals.block()
        try runtime {
            let filter = try parseFilterWords(filter)
            let namespace = try namespace(netns)
            let sampler = try Sampler(namespace: namespace, filter: filter, logger: Console.logger())
            // With --db, the rows keep as many destinations as record's default does.
            let counting = startCountingCloses(
                leavingOut: "the closes/s column", warn: { Console.warn("sockscan watch: \($0)") }
            ) { try sampler.countCloses(top: db == nil ? top : max(top, 10)) }
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
            formatter.showCloses = counting
            // Sums, not the samples: memory stays flat however long it watches.
            var average = RunningAverage()
            recorder.onSample = { sample, _ in
                if average.count % 20 == 0 {
                    if average.count > 0 { try printLine("") }
                    try printLine(formatter.header(time: sample.time))
                }
                average.add(sample)
                let row = HistoryReport.rows([sample])[0]
                try printLine(formatter.line(row))
                for closes in row.topCloses.prefix(top) { try printLine(formatter.closesLine(row, closes)) }
            }
            _ = try recorder.run()  // marks the run stopped on its way out, an error's too
            if let row = average.row { try printLine(formatter.averageLine(row)) }
        }
    }
}
