import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Standard output that fails or goes away: a pipe closed after the first line (`| head -1`) and a full disk.
/// The listings are of a private namespace holding the known mix with 700 extra pairs, more than a pipe holds.
/// (Closed standard descriptors: ClosedDescriptorTests.)
@Suite("output errors", .cliMix(extraPairs: 700))
struct OutputErrorTests {
    @Test("stdout closed after the first line (| head -1): exit 0, nothing on stderr", arguments: ["table", "json"])
    func earlyClose(format: String) throws {
        let fixture = try CLIFixture.require()
        let arguments = ["list", "--netns", fixture.namespace.name, "-ta", "--format", format]
        // The output must be larger than a pipe holds, or the program never meets the closed pipe.
        let whole = try Binary.run(arguments)
        #expect(whole.status == 0)
        #expect(whole.stdout.utf8.count > 65536 + 4096, "\(whole.stdout.utf8.count) bytes fit in a pipe")

        let outcome = try EarlyClose.run(Binary.path, arguments)
        #expect(outcome.firstLine == String(whole.lines.first ?? ""))
        #expect(outcome.result.status == 0, "\(outcome.result)")
        #expect(!outcome.result.signaled, "killed by a signal (SIGPIPE?): \(outcome.result)")
        #expect(outcome.result.stderr.isEmpty, "\(outcome.result.stderr)")
    }
    @Test(
        "| head -1 is quiet for CSV and with -p too",
        arguments: [["--format", "csv"], ["-p"], ["-p", "--format", "json"]])
    func earlyCloseMore(options: [String]) throws {
        let fixture = try CLIFixture.require()
        let arguments = ["list", "--netns", fixture.namespace.name, "-ta"] + options
        let whole = try Binary.run(arguments)
        #expect(whole.status == 0)
        #expect(whole.stdout.utf8.count > 65536 + 4096, "\(whole.stdout.utf8.count) bytes fit in a pipe")
        let outcome = try EarlyClose.run(Binary.path, arguments)
        #expect(outcome.firstLine == String(whole.lines.first ?? ""))
        #expect(outcome.result.status == 0, "\(outcome.result)")
        #expect(!outcome.result.signaled, "\(outcome.result)")
        #expect(outcome.result.stderr.isEmpty, "\(outcome.result.stderr)")
    }

    @Test(
        "| head -1 is quiet for what ArgumentParser prints too: help, the help dump, completion scripts",
        arguments: [["--experimental-dump-help"], ["count", "--experimental-dump-help"], ["count", "--help"]])
    func earlyCloseOfParserOutput(arguments: [String]) throws {
        let whole = try SockscanBinary.run(arguments)
        #expect(whole.status == 0)
        let outcome = try EarlyClose.run(SockscanBinary.path, arguments)
        #expect(outcome.firstLine == String(whole.lines.first ?? ""))
        #expect(outcome.result.status == 0, "\(arguments): \(outcome.result)")
        #expect(outcome.result.stderr.isEmpty, "\(arguments): \(outcome.result.stderr)")
    }

    /// Runs `sockscan arguments…` with stdout on /dev/full (every write fails with ENOSPC).
    static func runIntoFullDisk(_ arguments: [String]) throws -> CommandResult {
        try Command.run("sh", ["-c", "exec \"$0\" \"$@\" > /dev/full", SockscanBinary.path] + arguments)
    }

    @Test(
        "stdout on a full disk: exit 1 and one line that says what failed, no errno enum",
        arguments: [
            ["list", "-ta"], ["count", "-ta"], ["count", "-ta", "--by", "dport"], ["summary"], ["ports"],
            ["metrics"], ["watch", "--count", "1", "--interval", "100ms"],
        ])
    func fullDisk(arguments: [String]) throws {
        let result = try Self.runIntoFullDisk(arguments)
        #expect(result.status == 1, "\(arguments): \(result)")
        #expect(result.stderr == "sockscan: cannot write to standard output: No space left on device\n", "\(result)")
    }

    @Test(
        "help, version and completion scripts into a full disk: exit 1 and the reason, not a silent 0",
        arguments: [
            ["--help"], ["list", "--help"], ["count", "--help"], ["help", "ports"], ["--version"],
            ["record", "--help"], ["--generate-completion-script", "bash"],
        ])
    func helpIntoFullDisk(arguments: [String]) throws {
        let result = try Self.runIntoFullDisk(arguments)
        #expect(result.status == 1, "\(arguments): \(result)")
        #expect(
            result.stderr.hasSuffix("sockscan: cannot write to standard output: No space left on device\n"), "\(result)"
        )
    }
}
