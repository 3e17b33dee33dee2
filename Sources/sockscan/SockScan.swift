import ArgumentParser
import SockScanCLI

/// `sockscan`: the scan commands, started in a few milliseconds; the commands that record, report and serve
/// are handed over to `sockscan-full` (see ``SockScanRoot``).
@main
struct SockScan: ParsableCommand {
    static let configuration = SockScanRoot.configuration(subcommands: SockScanRoot.scanCommands)

    static func main() { SockScanRoot.main(self, handsOver: true) }
}
