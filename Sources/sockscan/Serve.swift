import ArgumentParser
import Dispatch
import NIOCore
import SockDiag
import SockMetrics
import SockServe

#if canImport(Glibc)
    import Glibc
#endif

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve socket metrics over HTTP for Prometheus (/metrics, /healthz).",
        discussion: """
            /metrics answers in the Prometheus text format 0.0.4, or in OpenMetrics 1.0 when the Accept header \
            prefers application/openmetrics-text (as Prometheus does). Scrapes that arrive while a scan runs \
            share it, and its result is reused for --cache, so a hundred scrapers cost one kernel dump; \
            sockscan_kernel_dumps_total counts them. Scans run on one thread of their own; a slow client holds \
            only its own connection. SIGTERM or SIGINT: stop accepting, finish the answers in progress, exit 0.

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
            guard let duration = parseCacheDuration(text) else {
                throw ValidationError("'\(text)' is not a duration from 0 to 24h such as 1s, 500ms or 2m")
            }
            return duration
        })
    var cache: Duration = .seconds(1)

    func run() throws {
        if !listen.isLoopback {
            Console.warn(
                "sockscan: warning: listening on \(listen), not loopback: other hosts can read this host's "
                    + "socket metrics (peer addresses); restrict it with a firewall")
        }
        // The signals are handled by a dispatch source, not by the default action.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let server = try runtime {
            let exporter = try MetricsExporter(
                namespace: try options.namespace(), top: options.top, maxAge: cache,
                version: SockScan.configuration.version, onWarning: { Console.warn($0) })
            do {
                return try MetricsServer(host: listen.host, port: listen.port, exporter: exporter)
            } catch {
                exporter.shutdown()
                // NIO's IOError reads "bind(descriptor:ptr:bytes:): … (errno: 98)": say only what failed and why.
                let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
                throw ServeError(message: "cannot listen on \(listen): \(reason)")
            }
        }
        let bound = server.address.port.map { ListenAddress(host: listen.host, port: $0) } ?? listen
        Console.warn("sockscan: serving http://\(bound)/metrics")

        let stop = DispatchSemaphore(value: 0)
        let queue = DispatchQueue(label: "sockscan.signals")
        let sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        stop.wait()
        Console.warn("sockscan: shutting down")
        server.shutdown()
        for source in sources { source.cancel() }
    }
}

struct ServeError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
