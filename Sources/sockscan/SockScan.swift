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
              sockscan ports                         which destination is running out of ephemeral ports
            """,
        version: "0.1.0",
        subcommands: [List.self, Count.self, Ports.self, Record.self, Watch.self, Report.self],
        defaultSubcommand: List.self
    )

    static func main() {
        // `sockscan list | head -1`: a write to the closed pipe must fail with EPIPE (which the output
        // code turns into a quiet exit 0), not kill the process with SIGPIPE (status 141).
        signal(SIGPIPE, SIG_IGN)
        main(nil)
    }
}
