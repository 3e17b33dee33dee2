import Foundation
import Testing

/// `promtool` from Debian's `prometheus` package (scripts/setup-test installs it).
public enum Promtool {
    /// How long one run may take. promtool is a 48 MB Go binary: its first, cold start on a loaded CI machine
    /// took 14 s and 23 s (a check that takes 0.08 s warm), so the bound is generous; it only catches a hang.
    static let timeout: Double = 120

    /// Where `promtool` is; a recorded failure when it is not installed.
    public static func path(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let found = try? Command.locate("promtool")
        return try #require(
            found, "promtool is missing: run scripts/setup-test (apt-get install prometheus)",
            sourceLocation: sourceLocation)
    }

    /// `promtool check metrics < text`: its exit status and what it said (lint problems go to stderr).
    public static func checkMetrics(_ text: String) throws -> CommandResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-metrics-\(UUID()).prom")
        try Data(text.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Command.run(
            "sh", ["-c", "exec \"$0\" check metrics < \"$1\"", try path(), file.path], timeout: Self.timeout)
    }

    /// `promtool ARGUMENTS…`.
    public static func run(_ arguments: [String]) throws -> CommandResult {
        try Command.run(try path(), arguments, timeout: Self.timeout)
    }
}
