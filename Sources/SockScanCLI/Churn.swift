import ArgumentParser
import SockDiag
import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// `sockscan churn`: connections closed per second per destination over a window, against their ports.
public struct Churn: ScanCommand {
    /// The command with its defaults (ArgumentParser fills the options in).
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "churn",
        abstract: "Connections closed per second per destination, and when their ports run out.",
        discussion: """
            Counts the TCP connections that end, from the kernel's destroy events (the sock_diag multicast \
            groups, as ss -E), for --duration or until Ctrl-C (SIGINT or SIGTERM end the \
            window early and the report follows), then sets each destination's close rate against its ephemeral \
            ports, as sockscan ports counts them. A destination is (local address, remote address, remote port) \
            and a connection is counted when its local port is in ip_local_port_range (the client side). A \
            filter in ss syntax (addresses, ports, dev; not state) selects the connections counted.

            Each close this side makes first leaves a TIME_WAIT socket that holds the port 60 s (where \
            tcp_tw_reuse applies, until it is tcp_tw_reuse_delay old, then connect() may take it over). So at \
            CLOSES/S a destination needs CLOSES/S x HERE x 60 ports in the steady state (HERE: the share closed \
            here, measured on a sample of the window's connections against the TIME_WAIT sockets after it) plus \
            its open connections; connect() fails with EADDRNOTAVAIL when that exceeds its capacity, after RUNS \
            OUT (from now, counting when today's TIME_WAIT sockets expire). BYTES per connection (median, p90) \
            come from the final tcp_info.

            Verdict: critical when a destination runs out at this rate or its steady state is at or over \
            --critical, warn at or over --warn, else ok. Exit status: 0, or 2 with --fail-at when a destination \
            runs out or its steady state is at or over PCT, 1 on a runtime failure, 64 on a usage error.

            Examples:
              sockscan churn                          closes per destination over 10 s
              sockscan churn --duration 1m --top 5    a longer window, the 5 worst
              sockscan churn dst 10.0.0.5:443         one upstream (an ss filter)
              sockscan churn --netns gw1 --duration 5s
              sockscan churn --format json | jq '.destinations[0]'
              sockscan churn --fail-at 90 >/dev/null || page-oncall

            At 3 a.m., connect() fails with EADDRNOTAVAIL and ports shows 10.0.0.5:443 at 97% of its \
            ports, nearly all TIME_WAIT. sockscan churn --duration 5s (rows cut at the HERE column):

              LOCAL     REMOTE          CLOSES  CLOSES/S  BYTES   P90  HERE
              10.0.0.1  10.0.0.5:443      4250     850.0    416   544  100%

              Verdict: CRITICAL: 10.0.0.1 -> 10.0.0.5:443 runs out of ports in 1.0 s
              at 850.0 closes/s (51000 of 28232 needed)

            850 new connections a second, a few hundred bytes each: one request per connection. The advice \
            starts with reusing connections (keep-alive, a pool); after the fix, churn shows the rate fall and \
            RUNS OUT back to never.
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    @Option(
        name: .customLong("duration"), parsing: .unconditional,
        help: ArgumentHelp(
            "How long to count closes (500ms, 10s, 1m; default 10s); Ctrl-C ends it early.", valueName: "TIME"),
        transform: TimeSpan.argument(.standard))
    var duration = TimeSpan.seconds(10)

    @Option(.top) var top: Int = 10
    @Option(.warn, of: "Steady-state utilization") var warn: Double = 70
    @Option(.critical, of: "Steady-state utilization") var critical: Double = 90

    @Option(
        name: .customLong("fail-at"), parsing: .unconditional,
        help: ArgumentHelp(
            "Exit with status 2 when a destination runs out of ports at its rate or its steady state is at or over "
                + "PCT.", valueName: "PCT"))
    var failAt: Double?

    @Option(.format) var format: DocumentFormat = .table

    @Option(.netns) var netns: String?

    @Argument(
        parsing: .remaining,
        help: ArgumentHelp(
            "A filter in ss syntax for the connections counted (see sockscan list --help; not state).",
            valueName: "filter"))
    var filter: [String] = []

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        try validateThresholds(top: top, warn: warn, critical: critical, failAt: failAt)
    }

    public func run() throws {
        // Before any thread starts, so that every thread inherits the mask and the signal waits for the main one.
        StopSignals.block()
        let report = try runtime {
            let filter = try parseFilterWords(filter)
            let namespace = try namespace(netns)
            let scanner = try Scanner(namespace: namespace, logger: Console.logger())
            let window = try ChurnWindow.count(
                namespace: namespace, filter: filter, scanner: scanner, duration: duration,
                command: "sockscan churn")
            let report = try ChurnReport.measure(
                tracker: window.tracker, durationSeconds: window.seconds, droppedEvents: window.droppedEvents,
                scanner: scanner, filter: window.filter, thresholds: PortThresholds(warn: warn, critical: critical))
            var out = TextWriter(capacity: 8192)
            let formatter = ChurnReportFormatter(top: top)
            switch format {
            case .json: formatter.writeJSON(report, into: &out)
            case .table: formatter.writeTable(report, into: &out)
            }
            try out.flush(to: STDOUT_FILENO)
            return report
        }
        if let failAt, report.isAtOrOver(percent: failAt) {
            throw ExitCode(2)
        }
    }
}

/// A window of destroy events counted per destination: what `churn` and `ports --sample` measure.
enum ChurnWindow {
    /// What a window counted.
    struct Counted {
        var tracker: ChurnTracker
        /// From the subscription to the end (the duration, or a stop signal).
        var seconds: Double
        var droppedEvents: UInt64
        /// The filter as the monitor tested it (devices resolved).
        var filter: Filter?
    }

    /// Subscribes to the TCP destroy events of `namespace`, counts them until `duration` has passed or a stop
    /// signal came (the caller blocked them with ``StopSignals/block()``), and returns the counts. Client sides
    /// are told by the namespace's port range less its listeners' ports (`scanner` scans that namespace),
    /// re-read every 10 s. `command` is named in the error when the kernel refuses the groups.
    ///
    /// - Throws: ``CapabilityError`` when the kernel refuses the groups; ``SockDiagError`` otherwise.
    static func count(
        namespace: NetworkNamespace?, filter: Filter?, scanner: Scanner, duration: TimeSpan, command: String
    ) throws -> Counted {
        let monitor: SocketEventMonitor
        do {
            monitor = try SocketEventMonitor(namespace: namespace, protocols: .tcp, filter: filter)
        } catch let error where error.category == .permission {
            if case .kernel(let failure) = error {
                throw CapabilityError(reason: failure.errno.description, command: command)
            }
            throw error
        }
        let start = Clock.monotonic()
        let collector = try ChurnCollector(
            monitor: monitor, clientSides: .namespace(namespace, scanner: scanner, every: .seconds(10)))
        _ = StopSignals.wait(untilMonotonic: start + duration.nanoseconds)
        let end = Clock.monotonic()
        let tracker = try collector.finish()
        return Counted(
            tracker: tracker, seconds: Double(end - start) / 1e9, droppedEvents: monitor.droppedEvents,
            filter: monitor.filter)
    }
}

/// Joining the destroy-event groups was refused: the one line `churn` and `ports --sample` print for it.
struct CapabilityError: Error, CustomStringConvertible {
    /// The kernel's refusal (`Operation not permitted`).
    var reason: String
    /// What needs it: `churn`, `ports --sample`.
    var command: String

    var description: String {
        "\(command) watches connections close, and the kernel refused to let it join the sock_diag destroy "
            + "groups (\(reason)): run it as root or with CAP_NET_ADMIN, outside a sandbox that forbids it"
    }
}

/// Checks the threshold options `ports` and `churn` share: `--top` at least 1, percentages from 0 to 100,
/// `--warn` not above `--critical`.
func validateThresholds(top: Int, warn: Double, critical: Double, failAt: Double?) throws {
    /// `95` or `95.5`, as the user would write it.
    func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
    guard top >= 1 else { throw ValidationError("--top must be at least 1 (got \(top))") }
    for (name, value) in [("--warn", warn), ("--critical", critical), ("--fail-at", failAt ?? 0)] {
        guard (0...100).contains(value) else {
            throw ValidationError("\(name) must be a percentage from 0 to 100 (got \(text(value)))")
        }
    }
    guard warn <= critical else {
        throw ValidationError("--warn (\(text(warn))) must not be above --critical (\(text(critical)))")
    }
}
