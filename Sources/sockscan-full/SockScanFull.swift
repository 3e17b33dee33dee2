import ArgumentParser
import SockScanCLI
import SockScanServiceCLI

/// `sockscan-full`: every command of `sockscan`, with those that record, report and serve (SQLite, SwiftNIO,
/// Foundation), which `sockscan` hands over to it. Its help, completion scripts and man pages describe the
/// whole command.
@main
struct SockScanFull: ParsableCommand {
    static let configuration = SockScanRoot.configuration(
        subcommands: SockScanRoot.scanCommands.map { $0 as ParsableCommand.Type } + SockScanServiceRoot.serviceCommands)

    static func main() { SockScanRoot.main(self) }
}
