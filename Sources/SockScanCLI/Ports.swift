import ArgumentParser
import SockDiag
import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

public struct Ports: ScanCommand {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "ports",
        abstract: "Which destination is running out of ephemeral ports, and why.",
        discussion: """
            connect() picks a local port from net.ipv4.ip_local_port_range, skipping reserved ports and ports \
            held by bind(), and only needs the 4-tuple to be unique. So each destination (local address, \
            remote address, remote port) has the whole range to itself, and fails with EADDRNOTAVAIL when its \
            own sockets (TIME_WAIT included) hold every port. This command counts, per destination, the TCP \
            sockets on an ephemeral port in any state but listen, against range - reserved - bound; UDP sockets \
            on a port of the range are shown apart (UDP has its own port table).

            Where tcp_tw_reuse applies (1, or the default 2 when either address is loopback, with timestamps on), \
            TIME_WAIT sockets older than tcp_tw_reuse_delay (1 s) can be taken over by connect(): they are shown \
            as reusable and left out of the verdict.

            CLOSES/S: each destination's recent close rate. By default it is estimated from its TIME_WAIT \
            sockets: each close made here holds its port 60 s in TIME_WAIT, so time-wait / 60 is exactly the \
            average over the last minute (closes the server made first leave no TIME_WAIT here and are not in \
            it; where tcp_tw_reuse applies, the count is over the age of the oldest TIME_WAIT socket, as \
            connect() takes older ones over). With --sample TIME it is measured: every connection to it that \
            ended during TIME, from the kernel's destroy events (sockscan churn tells more).

            Verdict: critical at or over --critical, warn at or over --warn, else ok; the worst destination (or \
            the UDP pool) decides. Exit status: 0, or 2 with --fail-at when a destination is at or over it, \
            1 on a runtime failure, 64 on a usage error.

            Examples:
              sockscan ports                         the 10 busiest destinations, advice
              sockscan ports --top 3 --netns gw1     in the namespace gw1 (name, path, PID)
              sockscan ports --fail-at 80 >/dev/null || page-oncall
                                                     for cron and health checks
              sockscan ports --format json | jq '.destinations[0]'
              sockscan ports --sample 5s             close rates measured over 5 s

            A worked example: with ip_local_port_range "40000 40039", tcp_tw_reuse=0 and a listener on port \
            40005, 39 connections to 127.0.0.1:8080 succeed and the 40th fails with EADDRNOTAVAIL. After 20 of \
            them are closed (TIME_WAIT) and 5 are opened to 127.0.0.2:9090 (rows cut after the bar):

              Ports 40000-40039 (40) - 0 reserved - 1 bound (40005) = 39 per destination
              tcp_tw_reuse=0  tcp_fin_timeout=60  tcp_max_tw_buckets=262144

              LOCAL      REMOTE          USED  CAP    UTIL
              127.0.0.1  127.0.0.1:8080    39   39  100.0%  [####################]
              127.0.0.1  127.0.0.2:9090     5   39   12.8%  [###.................]

              Verdict: CRITICAL: 127.0.0.1 -> 127.0.0.1:8080 uses 39 of 39 ports (100.0%)

            CLOSES/S reads 0.3 for 127.0.0.1:8080 (20 TIME_WAIT / 60 s) and STATES "established 19, time-wait \
            20": the TIME_WAIT sockets still hold their ports. 127.0.0.2:9090 has 34 ports left: ports run out per destination, not per host. Advice \
            follows, most effective first: reuse connections (keep-alive, pooling); more source addresses or \
            IP_BIND_ADDRESS_NO_PORT; a wider range; tcp_tw_reuse=1 and its caveats.
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    @Option(.top) var top: Int = 10
    @Option(.warn, of: "Utilization") var warn: Double = 70
    @Option(.critical, of: "Utilization") var critical: Double = 90

    @Option(
        name: .customLong("fail-at"), parsing: .unconditional,
        help: ArgumentHelp(
            "Exit with status 2 when a destination (or the UDP pool) is at or over PCT.", valueName: "PCT"))
    var failAt: Double?

    @Option(
        name: .customLong("sample"), parsing: .unconditional,
        help: ArgumentHelp(
            "Measure each destination's close rate over TIME (5s) from destroy events, instead of estimating it "
                + "from TIME_WAIT.", valueName: "TIME"),
        transform: TimeSpan.argument(.standard))
    var sample: TimeSpan?

    @Option(.format) var format: DocumentFormat = .table

    @Option(.netns) var netns: String?

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        try validateThresholds(top: top, warn: warn, critical: critical, failAt: failAt)
    }

    public func run() throws {
        // Before any thread starts (the sample's counting thread inherits the mask): Ctrl-C ends the sample.
        if sample != nil { StopSignals.block() }
        let report = try runtime {
            let namespace = try namespace(netns)
            let scanner = try Scanner(namespace: namespace, logger: Console.logger())
            let window = try sample.map {
                try ChurnWindow.count(
                    namespace: namespace, filter: nil, scanner: scanner, duration: $0,
                    command: "sockscan ports --sample")
            }
            var report = try PortExhaustion.analyze(
                scanner: scanner, thresholds: PortThresholds(warn: warn, critical: critical))
            if let window {
                report.addSample(window.tracker, seconds: window.seconds, droppedEvents: window.droppedEvents)
            }
            var out = TextWriter(capacity: 8192)
            let formatter = PortReportFormatter(top: top)
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
