import Foundation

/// The built `sockscan` binary the CLI suites run: `$SOCKSCAN_BINARY`, else next to the test bundle
/// (`.build/<triple>/debug/`), else `.build/debug/sockscan` of the package.
public enum SockscanBinary {
    public static let path: String = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["SOCKSCAN_BINARY"] { candidates.append(explicit) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(
                URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("sockscan").path)
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sockscan").path)
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(package.appendingPathComponent(".build/debug/sockscan").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    /// The companion `sockscan-full` beside ``path`` (which `sockscan` hands record, watch, report, metrics
    /// and serve over to).
    public static var companionPath: String {
        URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("sockscan-full").path
    }

    /// Runs `sockscan arguments…` to the end, at most `timeout` seconds, without the standard descriptors
    /// in `closed` (`>&-` in a shell).
    public static func run(_ arguments: [String], timeout: Double = 30, closed: Set<Int32> = []) throws
        -> CommandResult
    {
        try Command.run(path, arguments, timeout: timeout, closed: closed)
    }
}
