import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

@main
struct SockScan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sockscan",
        abstract: "List and count sockets through the kernel's sock_diag interface, filtered in the kernel.",
        discussion: """
            Examples:
              sockscan list -ta                      all TCP sockets, like ss -tan
              sockscan list -t state time-wait --format json
              sockscan count -tua                    TCP and UDP sockets per state
              sockscan ports                         which destination runs out of ports
              sockscan summary                       sar -n SOCK / ss -s totals, TCP states
              sockscan record --db history.db        sample every 10 s (a service)
              sockscan report --db history.db --every 1m --chart tw.svg
              sockscan serve                         Prometheus metrics on 127.0.0.1:9464
            """,
        version: "0.1.0",
        subcommands: [
            List.self, Count.self, Ports.self, Summary.self, Record.self, Watch.self, Report.self, Metrics.self,
            Serve.self,
        ],
        defaultSubcommand: List.self
    )

    static func main() {
        // The library's warnings (a fallback to /proc, a missing diag module) as `warning: …` lines on stderr.
        Console.installLogHandler()
        // `sockscan list | head -1`: a write to the closed pipe must fail with EPIPE (which the output
        // code turns into a quiet exit 0), not kill the process with SIGPIPE (status 141).
        signal(SIGPIPE, SIG_IGN)
        // ArgumentParser answers `help NOSUCH` with the top-level help and status 0: a typo would go unseen.
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "help", let topic = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) {
            let names = configuration.subcommands.map { $0._commandName }
            if !names.contains(topic) && topic != "help" {
                exit(
                    withError: ValidationError(
                        "unknown subcommand '\(topic)'; the subcommands are \(names.joined(separator: ", "))"))
            }
        }
        main(nil)
    }
}
