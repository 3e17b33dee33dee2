import SockScanCLI

/// `sockscan`: the scan commands, started in a few milliseconds; the commands that record, report and serve
/// are handed over to `sockscan-full` (see ``SockScanRoot``).
@main
enum SockScan {
    static func main() { SockScanRoot.runScanCommand() }
}
