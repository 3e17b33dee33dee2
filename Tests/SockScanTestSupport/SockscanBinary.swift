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

    /// ``path`` for a test that runs `sockscan` as another user (`setpriv --reuid=nobody`): the binary itself
    /// when every directory above it lets others in, else a copy of it and its companion in a directory of
    /// their own under the temporary directory (a checkout in `mktemp -d`, mode 0700). `setpriv` still starts
    /// the first binary with root's capabilities, but `sockscan`'s hand-over to `sockscan-full` runs as the
    /// user and could not reach it. The copy is removed when the test process exits.
    public static let pathForOtherUsers: String = {
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var reachable = true
        while directory.path != "/" {
            var info = stat()
            if stat(directory.path, &info) != 0 || info.st_mode & 0o001 == 0 { reachable = false }
            directory.deleteLastPathComponent()
        }
        if reachable { return path }
        var template = Array((NSTemporaryDirectory() + "/sockscan-bin-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { return path }
        let copyDirectory = String(cString: made)
        chmod(copyDirectory, 0o755)
        for source in [path, companionPath] {
            let target = copyDirectory + "/" + URL(fileURLWithPath: source).lastPathComponent
            guard (try? FileManager.default.copyItem(atPath: source, toPath: target)) != nil else { return path }
        }
        removeAtExit = copyDirectory
        atexit {
            if let directory = SockscanBinary.removeAtExit { try? FileManager.default.removeItem(atPath: directory) }
        }
        return copyDirectory + "/sockscan"
    }()

    nonisolated(unsafe) private static var removeAtExit: String?

    /// Runs `sockscan arguments…` to the end, at most `timeout` seconds, without the standard descriptors
    /// in `closed` (`>&-` in a shell).
    public static func run(_ arguments: [String], timeout: Double = 30, closed: Set<Int32> = []) throws
        -> CommandResult
    {
        try Command.run(path, arguments, timeout: timeout, closed: closed)
    }
}

extension SockscanBinary {
    /// `stderr` without the lines `record` and `watch` log for missed ticks (`sockscan watch: missed 1 tick:
    /// the sample took …`). A loaded machine (the test's own generator, a slow `fsync`) can hold a
    /// sample past its tick; logging it is right, and no test controls it. Every other line stays.
    public static func withoutMissedTicks(_ stderr: String) -> String {
        stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            guard let colon = line.firstIndex(of: ":"), line.hasPrefix("sockscan ") else { return true }
            let words = line[line.index(after: colon)...].split(separator: " ", maxSplits: 3)
            return
                !(words.count >= 3 && words[0] == "missed" && Int(words[1]) != nil
                && (words[2].hasPrefix("tick:") || words[2].hasPrefix("ticks")))
        }.joined(separator: "\n")
    }
}
