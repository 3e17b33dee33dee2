import ArgumentParser
import SockScanCLI
import SockDiag
import SockFormat
import SockMetrics

#if canImport(Glibc)
    import Glibc
#endif

/// Options `sockscan metrics` and `sockscan serve` share.
struct ExpositionOptions: ParsableArguments {
    @Option(.netns) var netns: String?

    @Option(
        name: .customLong("top"), parsing: .unconditional,
        help: ArgumentHelp(
            "Expose port utilization for the N busiest destinations (0: none, at most 1000).", valueName: "N"))
    var top: Int = 10

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        guard (0...1000).contains(top) else {
            throw ValidationError("--top must be from 0 to 1000 (got \(top)): each destination is a series")
        }
    }

    func namespace() throws -> NetworkNamespace? { try SockScanCLI.namespace(netns) }
}

public struct Metrics: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the Prometheus exposition once, or write it for node_exporter's textfile collector.",
        discussion: """
            The same metrics as `sockscan serve` (sockets per protocol, family and state; sockstat totals; \
            ephemeral port capacity and the utilization of the busiest destinations; scan duration; version), \
            read once. A single reading cannot count the connections that end (serve's \
            sockscan_connections_closed_total): sockscan_closes_per_second_estimate gives each of the busiest \
            destinations' TIME_WAIT sockets over 60 s instead, the average rate of the closes made here over the \
            last minute. With --textfile the Prometheus text format is written atomically (a temporary file in \
            the same directory, fsync, rename; mode 0644), so node_exporter never reads half a file. An existing \
            PATH must be a regular file: a device, FIFO or symbolic link there is refused and left alone. Point \
            node_exporter's --collector.textfile.directory at the directory and run this from cron or a systemd \
            timer.

            Examples:
              sockscan metrics                        Prometheus text on stdout
              sockscan metrics --format openmetrics --top 3
              sockscan metrics --textfile /var/lib/node_exporter/sockscan.prom
            Every minute from cron (/etc/cron.d/sockscan), with the path on one line:
              * * * * * root sockscan metrics --textfile /PATH/sockscan.prom
            """
    )

    @OptionGroup var options: ExpositionOptions

    @Option(
        name: .customLong("textfile"),
        help: ArgumentHelp("Write to PATH atomically instead of stdout (name it *.prom).", valueName: "PATH"))
    var textfile: String?

    @Option(.format) var format: MetricsFormat = .prometheus

    public mutating func validate() throws {
        if textfile != nil && format != .prometheus {
            throw ValidationError(
                "--textfile writes the Prometheus text format that node_exporter reads; drop --format")
        }
        if let textfile, textfile.isEmpty || textfile.hasSuffix("/") {
            throw ValidationError("--textfile needs a file path, e.g. /var/lib/prometheus/node-exporter/sockscan.prom")
        }
        var status = stat()
        if let textfile, stat(textfile, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw ValidationError(
                "--textfile \(textfile) is a directory; give the file to write in it, e.g. \(textfile)/sockscan.prom")
        }
    }

    public func run() throws {
        try runtime {
            let scanner = try Scanner(namespace: try options.namespace(), logger: Console.logger())
            let snapshot = try SocketMetricsCollector(scanner: scanner, top: options.top).collect()
            let families = SocketMetrics.families(
                snapshot, top: options.top, version: SockScanRoot.version)
            let bytes = Exposition.render(families, as: format == .openmetrics ? .openMetrics : .prometheus)
            if let textfile {
                if !textfile.hasSuffix(".prom") {
                    Console.warn("sockscan: warning: node_exporter's textfile collector reads only *.prom files")
                }
                try Textfile.write(bytes, to: textfile)
            } else {
                var out = TextWriter(capacity: bytes.count)
                out.write(String(decoding: bytes, as: UTF8.self))
                try out.flush(to: STDOUT_FILENO)
            }
        }
    }
}
