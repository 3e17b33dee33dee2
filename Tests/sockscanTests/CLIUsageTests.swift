import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Usage errors and help, of every command: checks that need no sockets.
@Suite("sockscan CLI usage")
struct CLIUsageTests {
    @Test(
        "--proc refuses what /proc/net cannot show (dev, autobound): exit 1 saying why, nothing printed",
        arguments: [["dev", "lo"], ["not", "dev", "lo"], ["autobound"]])
    func procRefusesDevice(filter: [String]) throws {
        let result = try SockscanBinary.run(["count", "-ta", "--proc"] + filter)
        #expect(result.status == 1, "\(filter): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("cannot be tested on the /proc path"), "\(result.stderr)")
    }

    @Test("--explain --proc says user space tests every line, and never that the kernel filters")
    func procExplain() throws {
        let result = try SockscanBinary.run([
            "count", "-t", "--proc", "--explain", "state", "established", "and", "dport", "=", ":80",
        ])
        #expect(result.status == 0, "\(result)")
        #expect(
            result.stdout == """
                filter: (state established and dport = :80)
                protocols: tcp  families: inet inet6
                kernel: nothing (reading /proc/net text, which the kernel does not filter)
                user space: every line, kept when
                  state in [established]
                  filter matches: (state established and dport = :80)

                """, "\(result.stdout)")
    }

    @Test("list --help says -n is accepted and ignored")
    func numericHelp() throws {
        let help = try SockscanBinary.run(["list", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("-n, --numeric"), "\(help.stdout)")
    }

    @Test(
        "a bad duration or number says why, and negative numbers are read as values",
        arguments: [
            (["watch", "--interval", "0"], "--interval", "must be more than 0"),
            (["watch", "--interval", "1h30m"], "--interval", "expected a duration like 500ms, 10s, 1m, 2h, 14d"),
            (["watch", "--interval", "-2"], "--interval", "must be more than 0"),
            (["report", "--db", "x.db", "--every", "0"], "--every", "must be more than 0"),
            (["report", "--db", "x.db", "--every", "10"], "--every", "expected a duration like"),
            (["record", "--db", "x.db", "--interval", "0"], "--interval", "must be more than 0"),
            (["record", "--db", "x.db", "--retention", "100y"], "--retention", "expected a duration like"),
            (["record", "--db", "x.db", "--full-every", "0.1ms"], "--full-every", "must be at least 1ms"),
            (["record", "--db", "x.db", "--top", "-1"], "--top", "must be from 1 to 1000 (got -1)"),
            (["count", "--by", "dport", "--top", "-1"], "--top", "must be at least 1 (got -1)"),
            (["ports", "--top", "-1"], "--top", "must be at least 1 (got -1)"),
            (["ports", "--warn", "-5"], "--warn", "must be a percentage from 0 to 100 (got -5)"),
            (["ports", "--fail-at", "-1"], "--fail-at", "must be a percentage from 0 to 100 (got -1)"),
            (["watch", "--count", "-1"], "--count", "must be at least 1 (got -1)"),
            (["metrics", "--top", "-1"], "--top", "must be from 0 to 1000 (got -1)"),
            (["serve", "--cache", "-1s"], "--cache", "is not a duration from 0 to 24h"),
            (["serve", "--max-connections", "-5"], "--max-connections", "must be from 1 to 10000 (got -5)"),
            (["count", "--netns", "-1"], "--netns -1", "is not a process id"),
            (["list", "--netns", "0"], "--netns 0", "is not a process id"),
            (["report", "--db", "x.db", "--from", "-1"], "--from", "'-1' is not a time"),
            (["report", "--db", "x.db", "--to", "-5"], "--to", "'-5' is not a time"),
        ])
    func badNumbersSayWhy(arguments: [String], flag: String, reason: String) throws {
        let result = try SockscanBinary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result)")
        #expect(result.stderr.contains(flag), "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(reason), "\(arguments): \(result.stderr)")
        #expect(!result.stderr.contains("Missing value"), "\(arguments): \(result.stderr)")
    }

    @Test(
        "an empty --db, --netns or --chart is a usage error naming the option",
        arguments: [
            (["list", "--netns", ""], "--netns"), (["count", "--netns", ""], "--netns"),
            (["kill", "--dry-run", "--netns", "", "dst", "192.0.2.1"], "--netns"),
            (["summary", "--netns", ""], "--netns"), (["ports", "--netns", ""], "--netns"),
            (["watch", "--netns", ""], "--netns"), (["metrics", "--netns", ""], "--netns"),
            (["serve", "--netns", ""], "--netns"), (["record", "--db", "x.db", "--netns", ""], "--netns"),
            (["watch", "--db", ""], "--db"), (["record", "--db", ""], "--db"), (["report", "--db", ""], "--db"),
            (["report", "--db", "x.db", "--chart", ""], "--chart"),
        ])
    func emptyValues(arguments: [String], flag: String) throws {
        let result = try SockscanBinary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("Error: \(flag) is empty"), "\(arguments): \(result.stderr)")
    }

    @Test(
        "an unknown device, by name or index, is a usage error of the subcommand, with its usage line",
        arguments: [
            (["list", "-ta", "dev", "nosuchdev0"], "list", "'nosuchdev0'"),
            (["list", "-ta", "dev", "99999"], "list", "index 99999"),
            (["count", "-ta", "dev", "99999"], "count", "index 99999"),
            (["list", "-ta", "not", "dev", "nosuchdev0"], "list", "'nosuchdev0'"),
            (["watch", "--count", "1", "dev", "nosuchdev0"], "watch", "'nosuchdev0'"),
        ])
    func unknownDevice(arguments: [String], subcommand: String, names: String) throws {
        let result = try SockscanBinary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(names), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: sockscan \(subcommand) "), "\(result.stderr)")
    }

    @Test("dev with the index of a device that exists (lo is 1) scans")
    func knownDeviceIndex() throws {
        let result = try SockscanBinary.run(["count", "-ta", "dev", "1"])
        #expect(result.status == 0, "\(result)")
    }

    @Test("help NOSUCH: exit 64 naming the unknown subcommand; help list still shows list's help")
    func helpUnknownSubcommand() throws {
        let result = try SockscanBinary.run(["help", "bogus"])
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("unknown subcommand 'bogus'"), "\(result.stderr)")
        let list = try SockscanBinary.run(["help", "list"])
        #expect(list.status == 0 && list.stdout.contains("USAGE: sockscan list"), "\(list)")
        let top = try SockscanBinary.run(["help"])
        #expect(top.status == 0 && top.stdout.contains("SUBCOMMANDS"), "\(top)")
    }

    /// Lines of an Examples block that the 80-column help wrapped: they start in column 0 (examples and
    /// their notes are indented) and are not a heading ending in ':'.
    static func wrappedExampleLines(_ help: String) -> [String] {
        var inExamples = false
        var wrapped: [String] = []
        for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Examples:") {
                inExamples = true
            } else if line.isEmpty {
                inExamples = false
            } else if inExamples && !line.hasPrefix(" ") && !line.hasSuffix(":") {
                wrapped.append(String(line))
            }
        }
        return wrapped
    }

    @Test(
        "every example line of --help fits in 80 columns",
        arguments: [
            "", "list", "count", "ports", "churn", "summary", "events", "kill", "record", "watch", "report", "metrics",
            "serve",
        ])
    func examplesFit(subcommand: String) throws {
        let result = try SockscanBinary.run((subcommand.isEmpty ? [] : [subcommand]) + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Examples:"))
        #expect(Self.wrappedExampleLines(result.stdout) == [], "\(subcommand) --help:\n\(result.stdout)")
        for line in result.lines where line.hasPrefix("  sockscan ") {
            #expect(line.count <= 80, "\(line)")
        }
    }

    @Test("--tcp-strategy takes kebab case (per-family, one-pass), the camel case too, and lists kebab case")
    func tcpStrategyKebabCase() throws {
        for value in ["automatic", "per-family", "one-pass", "perFamily", "onePass"] {
            let result = try SockscanBinary.run(["count", "-ta", "--tcp-strategy", value])
            #expect(result.status == 0, "\(value): \(result)")
        }
        let help = try SockscanBinary.run(["list", "--help"])
        #expect(help.stdout.contains("automatic, per-family, one-pass"), "\(help.stdout)")
        let bad = try SockscanBinary.run(["list", "--tcp-strategy", "sideways"])
        #expect(bad.status == 64 && bad.stderr.contains("'per-family'"), "\(bad)")
    }

    @Test("option help: ports --top <N> as elsewhere; metrics --netns says it scans, not watches")
    func optionHelpWording() throws {
        let ports = try SockscanBinary.run(["ports", "--help"])
        #expect(ports.stdout.contains("--top <N>") && !ports.stdout.contains("<top>"), "\(ports.stdout)")
        let metrics = try SockscanBinary.run(["metrics", "--help"])
        #expect(metrics.stdout.contains("Scan another network namespace"), "\(metrics.stdout)")
        #expect(!metrics.stdout.contains("Watch another"))
    }

    @Test(
        "usage errors exit 64 naming the bad argument",
        arguments: [["list", "state", "nosuch"], ["list", "--bogus"], ["count", "exclude", "sideways"]])
    func usageErrors(arguments: [String]) throws {
        let result = try Binary.run(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty)
        let bad = arguments.last!
        #expect(result.stderr.contains(bad), "stderr does not name \(bad): \(result.stderr)")
    }

    @Test(
        "--help of every subcommand has an example and documents its flags",
        arguments: [
            ("list", ["--format", "--processes", "--extended", "--info", "--memory", "--netns", "--no-header"]),
            ("count", ["--by", "--top", "--format", "--netns"]),
            ("summary", ["--netns", "--format"]),
            ("ports", ["--netns", "--top", "--fail-at"]),
        ])
    func help(subcommand: String, flags: [String]) throws {
        let result = try Binary.run([subcommand, "--help"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("sockscan \(subcommand) "), "no example of \(subcommand)")
        for flag in flags { #expect(result.stdout.contains(flag), "\(subcommand) --help lacks \(flag)") }
    }

    @Test("shell completion scripts name every subcommand", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let result = try Binary.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result)")
        for word in ["list", "count", "summary", "ports", "processes", "format"] {
            #expect(result.stdout.contains(word), "\(shell) completion lacks \(word)")
        }
    }

    @Test(
        "every flag with a wrong or missing value: exit 64, stderr names the flag",
        arguments: [
            (["list", "--format", "xml"], "--format"), (["count", "--format", "xml"], "--format"),
            (["summary", "--format", "csv"], "--format"), (["count", "--by", "dport", "--top", "0"], "--top"),
            (["count", "--by", "state", "--top", "many"], "--top"), (["count", "--top", "3"], "--top"),
            (["count", "--by", "nosuch"], "--by"), (["count", "--by"], "--by"), (["list", "-4", "-6"], "-4"),
            (["count", "-4", "-6"], "-4"),
            (["kill", "--dry-run", "-4", "-6", "dst", "192.0.2.1"], "-4"),
            (["list", "--netns"], "--netns"), (["count", "--netns"], "--netns"),
            (["summary", "--netns"], "--netns"), (["ports", "--netns"], "--netns"),
            (["list", "--tcp-strategy", "sideways"], "--tcp-strategy"), (["list", "--format"], "--format"),
            (["ports", "--top", "0"], "--top"), (["ports", "--warn", "101"], "--warn"), (["summary", "-t"], "-t"),
            (["list", "--processes=yes"], "--processes"), (["list", "-p", "--format", "yaml"], "--format"),
            (["nosuch"], "nosuch"),
        ])
    func badValues(arguments: [String], flag: String) throws {
        let result = try Binary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(flag), "\(arguments): stderr does not name \(flag): \(result.stderr)")
    }
}
