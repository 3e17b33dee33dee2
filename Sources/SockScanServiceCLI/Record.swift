import ArgumentParser
import SockScanCLI
import SockDiag
import SockFormat
import SockHistory
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// Writes one line to stdout now (watch rows are read live).
func printLine(_ text: String) throws {
    var out = TextWriter(capacity: text.utf8.count + 1)
    out.write(text)
    out.write(byte: UInt8(ascii: "\n"))
    try out.flush(to: STDOUT_FILENO)
}

/// The host name, for the run row.
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

public struct Record: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record socket counts into an SQLite history, on schedule, until stopped (a service).",
        discussion: """
            Every --interval: the /proc/net/sockstat totals (sar -n SOCK's totsck tcpsck udpsck rawsck ip-frag \
            tcp-tw, and the IPv6 ones), TCP sockets per state from one kernel dump, and the TCP connections this \
            host opened that ended since the previous sample, overall and for the --top destinations with the \
            most (counted from the kernel's destroy events; sockscan report shows them as closes/s). Every \
            --full-every: the port-exhaustion analysis (the worst utilization and the top destinations, as \
            `sockscan ports`). Counting closes needs no privilege; where the kernel refuses it (a seccomp or \
            container policy) the samples have none, and a warning says so at the start.

            Ticks are due at fixed times on the monotonic clock: a slow sample never shifts later ones, and a \
            tick that cannot start in time is counted as missed in the next row (and logged: at once, then at \
            most once a minute with the count). Each row keeps the recorder's \
            own CPU time; a summary goes to stderr every hour and at stop. SIGTERM or SIGINT stops it cleanly.

            The database is SQLite in WAL mode while recording (sockscan report reads it while this writes), \
            created 0640 (its -wal and -shm files get the same mode and owner), one \
            transaction per sample (a crash loses at most the sample being written); rows older than \
            --retention are deleted. A clean stop switches it back to a rollback journal: a stopped history is one \
            file, which a user allowed to read it (the file's group) can report on without writing the \
            directory. One recorder per database: a second one is refused. A full disk does not \
            stop it: rows older than --retention are deleted and the write tried again; if there is still no \
            room the sample is skipped (counted as missed), a line goes to stderr (then one a minute), and \
            recording resumes once space is freed; started on a full disk, it waits for room. Its log is stderr: \
            started with stderr closed, it exits 1 at once rather than lose samples without a word.

            With --netns, a namespace that is gone (the process named by PID exited, the name was deleted or \
            now names another namespace) stops it with exit 1 and the reason, the run marked stopped: no row \
            of an empty or another namespace is written as if it were the one named. A service manager \
            restarts it (Restart=on-failure in contrib/systemd/sockscan-record.service); the start then records the \
            namespace again once the name leads to one, and says it does not exist until then.

            Durations: 500ms 10s 1m 2h 14d (--interval also takes a bare number of seconds).

            Examples:
              sockscan record --db /var/lib/sockscan/history.db
              sockscan record --db gw1.db --netns gw1 --interval 1s --retention 2d
              systemctl enable --now sockscan-record     (installed, not enabled)
            """
    )

    @Option(
        name: .customLong("db"), help: ArgumentHelp("The history database (created if missing).", valueName: "PATH"))
    var db: String

    @Option(
        name: .customLong("interval"), parsing: .unconditional,
        help: ArgumentHelp("Time between samples; a bare number is seconds (default: 10s).", valueName: "DURATION"),
        transform: TimeSpan.argument(.interval))
    var interval = TimeSpan.seconds(10)

    @Option(
        name: .customLong("full-every"), parsing: .unconditional,
        help: ArgumentHelp("Time between port-exhaustion scans (default: 1m).", valueName: "DURATION"),
        transform: TimeSpan.argument(.standard))
    var fullEvery = TimeSpan.seconds(60)

    @Option(
        name: .customLong("retention"), parsing: .unconditional,
        help: ArgumentHelp("Delete samples older than this (default: 14d).", valueName: "DURATION"),
        transform: TimeSpan.argument(.standard))
    var retention = TimeSpan.seconds(14 * 86_400)

    @Option(
        name: .customLong("top"), parsing: .unconditional,
        help: ArgumentHelp(
            "Destinations kept per port-exhaustion scan, and per sample by closes (default 10).", valueName: "N"))
    var top = 10

    @Option(.netns) var netns: String?

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        try requireNonEmpty(db, "--db")
        guard fullEvery >= interval else {
            throw ValidationError("--full-every (\(fullEvery)) must not be shorter than --interval (\(interval))")
        }
        guard retention > interval else {
            throw ValidationError("--retention (\(retention)) must be longer than --interval (\(interval))")
        }
        guard (1...1000).contains(top) else { throw ValidationError("--top must be from 1 to 1000 (got \(top))") }
    }

    public func run() throws {
        // The log on stderr is all an operator learns of a recorder that runs for days (a full disk, missed
        // ticks, the hourly summary, why it stopped). Started with stderr closed, it would lose samples
        // without a word: refuse to start (nothing can say why; the exit status does). A zero-byte write
        // fails only when the descriptor cannot be written at all (closed: /dev/null read-only, see main).
        guard write(STDERR_FILENO, nil, 0) == 0 else { throw ExitCode.failure }
        // Before any thread exists, so that every thread inherits the mask (see StopSignals).
        StopSignals.block()
        try runtime {
            let log: (String) -> Void = { Console.warn("sockscan record: \($0)") }
            let namespace = try namespace(netns)
            let sampler = try Sampler(namespace: namespace, logger: Console.logger(prefix: "sockscan record"))
            _ = startCountingCloses(leavingOut: "closes/s", warn: log) { try sampler.countCloses(top: top) }
            guard let store = try openWaitingForRoom(log: log) else { return }
            let run = HistoryStore.RunInfo(
                started: Clock.wall(), pid: getpid(), host: hostName(), netns: netns, filter: nil,
                interval: interval, fullEvery: fullEvery, version: SockScanRoot.version)
            let recorder = Recorder(
                sampler: sampler, store: store, run: run, schedule: Schedule(interval: interval, fullEvery: fullEvery))
            recorder.retention = retention
            recorder.topDestinations = top
            recorder.onLog = log
            log(
                "recording every \(interval) (ports every \(fullEvery)) into \(db), keeping \(retention); pid \(getpid())"
            )
            // Marks the run stopped on its way out, an error's too.
            let summary = try recorder.run()
            log("stopped\(summary.signal.map { " by \(signalName($0))" } ?? ""): \(summary.description)")
        }
    }

    /// Opens the database; while the disk is too full for that (SQLite cannot size its shared-memory file),
    /// tries again every --interval until a stop signal, so that a restart on a full disk waits for room
    /// instead of failing again at each restart.
    ///
    /// - Returns: `nil` when a stop signal came first.
    func openWaitingForRoom(log: (String) -> Void) throws -> HistoryStore? {
        var logged: Int64?
        while true {
            let failure: HistoryError
            do {
                let store = try HistoryStore.openForRecording(path: db)
                if logged != nil { log("opened \(db): there is room again") }
                return store
            } catch {
                failure = error
            }
            guard case .diskFull = failure else { throw failure }
            let now = Clock.monotonic()
            if logged.map({ now - $0 >= 60 * 1_000_000_000 }) ?? true {
                log("the disk holding \(db) is full: cannot open it; trying again every \(interval)")
                logged = now
            }
            if let signal = StopSignals.wait(untilMonotonic: now + interval.nanoseconds) {
                log("stopped by \(signalName(signal)) before \(db) could be opened (the disk is full)")
                return nil
            }
        }
    }
}

/// `SIGTERM`, `SIGINT`, or `signal N`.
func signalName(_ signal: Int32) -> String {
    signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)"
}
