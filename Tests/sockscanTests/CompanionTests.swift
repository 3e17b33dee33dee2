import Foundation
import SockScanTestSupport
import Testing

/// `sockscan` holds the scan commands and hands the others (and the whole command's help) to `sockscan-full`.
@Suite("sockscan and its companion")
struct CompanionTests {
    @Test("the commands of sockscan-full run through sockscan; its help lists every command")
    func handOver() throws {
        let help = try SockscanBinary.run(["--help"])
        #expect(help.status == 0)
        for command in ["list", "count", "ports", "summary", "record", "watch", "report", "metrics", "serve"] {
            #expect(help.stdout.contains("\n  \(command) "), "\(command) missing from: \(help.stdout)")
        }
        let record = try SockscanBinary.run(["record", "--help"])
        #expect(record.status == 0)
        #expect(record.stdout.contains("USAGE: sockscan record"), "\(record.stdout)")
        let helpReport = try SockscanBinary.run(["help", "report"])
        #expect(helpReport.stdout.contains("USAGE: sockscan report"), "\(helpReport.stdout)")
        let bash = try SockscanBinary.run(["--generate-completion-script", "bash"])
        #expect(bash.stdout.contains("record") && bash.stdout.contains("--db"))
        // The scan commands answer in sockscan itself (no companion in its process tree).
        let list = try SockscanBinary.run(["list", "--help"])
        #expect(list.stdout.contains("USAGE: sockscan list"))
    }

    /// The scan commands, which `sockscan` runs as the root of their parse and `sockscan-full` as subcommands.
    static let scanCommands = ["list", "count", "ports", "churn", "summary", "events", "kill"]

    @Test(
        "sockscan runs each scan command as sockscan-full does: the same help, version and usage errors",
        arguments: scanCommands)
    func sameCommandEitherWay(command: String) throws {
        var cases: [[String]] = [
            [command, "--help"], [command, "-h"], [command, "--version"], [command, "--no-such"], [command, "--netns"],
        ]
        // A usage error found while running (the filter), printed with the command's usage by the CLI itself.
        if ["list", "count", "kill"].contains(command) { cases.append([command, "-ta", "dport", "nonsense"]) }
        for arguments in cases {
            let lean = try SockscanBinary.run(arguments)
            let full = try Command.run(SockscanBinary.companionPath, arguments)
            #expect(lean.status == full.status, "\(arguments): \(lean) vs \(full)")
            #expect(lean.stdout == full.stdout, "\(arguments): stdout")
            #expect(lean.stderr == full.stderr, "\(arguments): \(lean.stderr) vs \(full.stderr)")
        }
        let help = try SockscanBinary.run([command, "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: sockscan \(command) "), "\(help)")
        #expect(help.stdout.contains("--version"), "help shows --version, as under the root")
        let version = try SockscanBinary.run([command, "--version"])
        #expect(version.status == 0 && version.stdout == "0.1.0\n", "\(version)")
        let wrong = try SockscanBinary.run([command, "--no-such"])
        #expect(wrong.status == 64, "\(wrong)")
        #expect(wrong.stderr.contains("Usage: sockscan \(command) "), "\(wrong.stderr)")
        #expect(wrong.stderr.contains("See 'sockscan \(command) --help' for more information."), "\(wrong.stderr)")
    }

    @Test("help, completion scripts and the help dump describe the whole command wherever they are asked for")
    func wholeCommandAnywhere() throws {
        // A lone argument that holds -h reads as the top-level help, as in sockscan-full's tree.
        let cases = [
            ["count", "--generate-completion-script", "bash"], ["help", "count"], ["-ht"], ["-help"], ["--help=x"],
        ]
        for arguments in cases {
            let lean = try SockscanBinary.run(arguments)
            let full = try Command.run(SockscanBinary.companionPath, arguments)
            #expect(lean.status == 0 && lean.stdout == full.stdout, "\(arguments): \(lean)")
        }
        let bash = try SockscanBinary.run(["count", "--generate-completion-script", "bash"])
        #expect(bash.stdout.contains("record") && bash.stdout.contains("--db"), "the whole command's script")
        let cluster = try SockscanBinary.run(["-ht"])
        #expect(cluster.stdout.contains("\n  record "), "the whole command's help: \(cluster.stdout)")
        // After `--` they are filter words: a usage error of the command, as in sockscan-full.
        let afterDashes = try SockscanBinary.run(["count", "--", "--experimental-dump-help"])
        let fullAfterDashes = try Command.run(
            SockscanBinary.companionPath, ["count", "--", "--experimental-dump-help"])
        #expect(afterDashes.status == 64 && afterDashes.stderr == fullAfterDashes.stderr, "\(afterDashes)")
        let helpCount = try SockscanBinary.run(["help", "count"])
        let countHelp = try SockscanBinary.run(["count", "--help"])
        #expect(helpCount.stdout == countHelp.stdout)
        // The dump of one command, as a subcommand of the whole one (what man pages are made from).
        let dump = try SockscanBinary.run(["list", "--experimental-dump-help"])
        let fullDump = try Command.run(SockscanBinary.companionPath, ["list", "--experimental-dump-help"])
        #expect(dump.status == 0 && dump.stdout == fullDump.stdout)
        #expect(dump.stdout.contains("\"commandName\" : \"list\""), "\(dump.stdout.prefix(300))")
    }

    @Test(
        "without its companion, sockscan says where it looked and exits 1; the scan commands and their usage errors still work"
    )
    func missingCompanion() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-alone-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let alone = directory.appendingPathComponent("sockscan").path
        try FileManager.default.copyItem(atPath: SockscanBinary.path, toPath: alone)
        let record = try Command.run(alone, ["record", "--db", directory.appendingPathComponent("h.db").path])
        #expect(record.status == 1)
        #expect(
            record.stderr.contains("'record' is a command of sockscan-full, which is not installed beside sockscan"))
        #expect(record.stderr.contains(directory.path + "/sockscan-full"), "\(record.stderr)")
        let count = try Command.run(alone, ["count", "-ta"])
        #expect(count.status == 0, "\(count)")
        // A usage error is sockscan's own: the same message as the companion's.
        let wrong = try Command.run(alone, ["count", "--no-such"])
        let fullWrong = try Command.run(SockscanBinary.companionPath, ["count", "--no-such"])
        #expect(wrong.status == 64 && wrong.stderr == fullWrong.stderr, "\(wrong) vs \(fullWrong)")
        let help = try Command.run(alone, ["--help"])
        #expect(help.status == 1)
        #expect(help.stderr.contains("the help of the whole command comes from sockscan-full, which is not installed"))
        let bash = try Command.run(alone, ["list", "--generate-completion-script", "bash"])
        #expect(bash.status == 1)
        #expect(bash.stderr.contains("completion scripts and the help dump come from sockscan-full"), "\(bash)")
    }
}
