import ArgumentParser
import SockScanCLI
import NIOCore
import SockDiag
import SockMetrics
import SockReport
import SockServe

#if canImport(Glibc)
    import Glibc
#endif

public struct Serve: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve socket metrics over HTTP for Prometheus (/metrics, /healthz).",
        discussion: """
            /metrics answers in the Prometheus text format 0.0.4, or in OpenMetrics 1.0 when the Accept header \
            prefers application/openmetrics-text (as Prometheus does). Scrapes that arrive while a scan runs \
            share it, and its result is reused for --cache, so a hundred scrapers cost one kernel dump; \
            sockscan_kernel_dumps_total counts them. For its whole life it also counts the TCP connections this \
            host opens that end, from the kernel's destroy events (where the kernel refuses them, a warning, and \
            these series are left out): sockscan_connections_closed_total per destination for the --top \
            destinations with the most closes over the last minute and one "other" series for the rest (every \
            close counted once, in the series exposed when it was counted: a destination leaving the top keeps \
            its value and its later closes go to other, so no series ever goes down), and \
            sockscan_port_exhaustion_seconds for the same destinations (+Inf when one never runs out at its \
            rate). Scans run on one thread of their own; a slow client holds \
            only its own connection. /healthz answers 200 ok, or 503 and the reason when the last scan failed or \
            the --netns namespace is gone (its process exited, its name was deleted: then /metrics has \
            sockscan_namespace_up 0 and no socket series). \
            At most --max-connections are open at once: at the limit a new connection displaces the one idle \
            longest between requests, else the one waiting longest for its request head (never one being \
            answered), so idle or slow clients cannot lock out a scrape. A connection must send its request \
            head within 10 s and \
            may stay idle 120 s between requests; request heads are bounded (8 KiB) and bodies refused (413 over \
            4 KiB). SIGTERM or SIGINT: stop accepting, finish the answers in progress, exit 0.

            It listens on loopback unless told otherwise: socket metrics name the peers of this host, so \
            listening on another address is a choice to make explicitly (with a warning).

            Examples:
              sockscan serve                          http://127.0.0.1:9464/metrics
              sockscan serve --netns gw1 --listen 127.0.0.1:9465 --top 20
              sockscan serve --listen 0.0.0.0:9464    every interface (firewall it)
              curl -H 'Accept: application/openmetrics-text' 127.0.0.1:9464/metrics
            """
    )

    @OptionGroup var options: ExpositionOptions

    @Option(
        name: .customLong("listen"),
        help: ArgumentHelp(
            "Address and port to listen on; port 0 picks a free one (default: 127.0.0.1:9464).", valueName: "HOST:PORT"),
        transform: { text in
            do {
                return try ListenAddress(parsing: text)
            } catch {
                throw ValidationError("\(error)")
            }
        })
    var listen: ListenAddress = .defaultValue

    @Option(
        name: .customLong("cache"), parsing: .unconditional,
        help: ArgumentHelp(
            "Reuse a scan for this long: 1s (default), 500ms, 0 (concurrent scrapes share one scan anyway).",
            valueName: "DURATION"),
        transform: { text in
            do {
                return .milliseconds(try TimeSpan(parsing: text, syntax: .cacheLifetime).milliseconds)
            } catch {
                throw ValidationError("'\(text)' is not a duration from 0 to 24h such as 1s, 500ms or 2m")
            }
        })
    var cache: Duration = .seconds(1)

    @Option(
        name: .customLong("max-connections"), parsing: .unconditional,
        help: ArgumentHelp(
            "Connections open at once (default 256); at the limit a new one displaces the longest idle one, else the one waiting longest for its request head.",
            valueName: "N"))
    var maxConnections = 256

    public mutating func validate() throws {
        guard (1...10_000).contains(maxConnections) else {
            throw ValidationError(
                "--max-connections must be from 1 to 10000 (got \(maxConnections)): each connection holds a file descriptor"
            )
        }
    }

    public func run() throws {
        // SIGTERM and SIGINT are blocked first, in this thread and so in every thread started after it
        // (the event loop, the scan thread), and taken once the server runs: one that arrives while the server
        // starts stays pending until then, neither lost nor fatal halfway.
        StopSignals.block()
        if !listen.isLoopback {
            Console.warn(
                "sockscan: warning: listening on \(listen), not loopback: other hosts can read this host's "
                    + "socket metrics (peer addresses); restrict it with a firewall")
        }
        let server = try runtime {
            let namespace = try options.namespace()
            // For the server's lifetime: sockscan_connections_closed_total and the time to exhaustion.
            var closes: ChurnCollector?
            _ = startCountingCloses(
                leavingOut: "sockscan_connections_closed_total (and sockscan_port_exhaustion_seconds)",
                warn: { Console.warn("sockscan: \($0)") }
            ) { closes = try ChurnCollector.start(namespace: namespace) }
            let exporter = try MetricsExporter(
                namespace: namespace, top: options.top, maxAge: cache,
                version: SockScanRoot.version, logger: Console.logger(), closes: closes)
            do {
                var limits = MetricsServer.Limits()
                limits.maxConnections = maxConnections
                return try MetricsServer(host: listen.host, port: listen.port, exporter: exporter, limits: limits)
            } catch {
                exporter.shutdown()
                // NIO's IOError reads "bind(descriptor:ptr:bytes:): … (errno: 98)": say only what failed and why.
                let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
                throw ServeError(message: "cannot listen on \(listen): \(reason)")
            }
        }
        let bound = server.address.port.map { ListenAddress(host: listen.host, port: $0) } ?? listen
        Console.warn("sockscan: serving http://\(bound)/metrics")

        _ = StopSignals.wait()
        Console.warn("sockscan: shutting down")
        server.shutdown()
    }
}

struct ServeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
