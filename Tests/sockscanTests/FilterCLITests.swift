import SockDiag
import SockScanTestSupport
import Testing

/// Filters as hostile or generated input makes them, through the binary: exit 64 with the subcommand's usage
/// line and a short message, never a signal.
@Suite("sockscan CLI: filter limits and errors")
struct FilterCLILimitTests {
    static func words(_ word: String, _ count: Int) -> [String] {
        Array(repeating: word.split(separator: " ").map(String.init), count: count).flatMap { $0 }
    }

    /// Runs `sockscan arguments…` and expects a usage error of `subcommand` whose message holds `message`.
    static func expectUsageError(
        _ arguments: [String], subcommand: String, message: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let result = try SockscanBinary.run(arguments, timeout: 60)
        let shown = "\(arguments.prefix(4).joined(separator: " ")) …: \(result.stderr.prefix(600))"
        #expect(!result.signaled, "\(shown)", sourceLocation: sourceLocation)
        #expect(result.status == 64, "status \(result.status): \(shown)", sourceLocation: sourceLocation)
        #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(shown)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("Usage: sockscan \(subcommand) "), "\(shown)", sourceLocation: sourceLocation)
        #expect(
            result.stderr.utf8.count < 2048, "\(result.stderr.utf8.count) bytes on stderr",
            sourceLocation: sourceLocation)
    }

    @Test(
        "a program past the 65,528 bytes a request carries: usage error of the subcommand naming the limit",
        arguments: ["count", "list", "watch"])
    func programTooLong(subcommand: String) throws {
        let extra = subcommand == "watch" ? ["--count", "1"] : ["-ta", "--explain"]
        // 8,200 × 8 bytes (the reproduction): one argument, as a shell passes "$(…)".
        let filter = Self.words("dport >= :1", 8200).joined(separator: " ")
        try Self.expectUsageError([subcommand] + extra + [filter], subcommand: subcommand, message: "65528")
    }

    /// As many conditions as a command line holds (arguments are limited to 2 MiB with their pointers).
    @Test("a 20,000-condition 'or' chain: the program is too long, said as a usage error, not a crash")
    func longOrChain() throws {
        var words: [String] = []
        for i in 0..<20_000 { words += (i == 0 ? [] : ["or"]) + ["dport", "=", ":\(i + 1)"] }
        try Self.expectUsageError(["count", "-t"] + words, subcommand: "count", message: "bytes of kernel bytecode")
    }

    @Test("deep nesting: parentheses and 'not' beyond 256 levels are a usage error, not a stack overflow")
    func deepNesting() throws {
        let parens = Self.words("(", 17_900) + ["dport", "=", ":1"] + Self.words(")", 17_900)
        try Self.expectUsageError(["list", "-ta"] + parens, subcommand: "list", message: "deeper than 256")
        let nots = Self.words("not", 34_400) + ["dport", "=", ":1"]
        try Self.expectUsageError(["count", "-ta"] + nots, subcommand: "count", message: "deeper than 256")
    }

    @Test(
        "an operator before '*' is a usage error saying what is allowed",
        arguments: [["sport", "!=", "*"], ["sport", "<", "*"], ["dport", ">=", ":*"]])
    func starWithOperator(filter: [String]) throws {
        try Self.expectUsageError(["list", "-ta"] + filter, subcommand: "list", message: "'*' (any port) takes '='")
    }

    @Test("a 100 KB bad filter: a window of it around the caret on stderr, not 200 KB")
    func longBadFilter() throws {
        let filter = Self.words("dport = :1 and", 6600) + ["bogus"]
        try Self.expectUsageError(["count", "-ta"] + filter, subcommand: "count", message: "unknown condition")
    }

    @Test("a port above 65535 is a usage error (ss would cut it to 16 bits)")
    func portOutOfRange() throws {
        try Self.expectUsageError(
            ["list", "-ta", "dport", "=", ":70000"], subcommand: "list", message: "ports go from 0 to 65535")
    }
}

/// What `ss` users type, through the binary, compared with `ss` in the same namespace.
@Suite("sockscan CLI: ss's spellings", .cliMix(extraPairs: 0))
struct FilterCLISyntaxTests {
    /// The rows of `ss -H` or `sockscan list -H`; `state` for output without the State column (one state asked).
    func tuples(_ result: CommandResult, state: TCPState? = nil) -> Set<SocketTuple> {
        Set(result.lines.compactMap { SSOracle.parse($0, proto: nil, state: state) })
    }

    /// `sockscan list FLAGS -H FILTER` and `ss FLAGS -nH FILTER` list the same sockets.
    func expectAsSS(_ flags: String, _ filter: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fixture = try CLIFixture.require()
        let ours = try fixture.sockscan("list", [flags, "-H"] + filter)
        #expect(ours.status == 0, "\(flags) \(filter): \(ours)", sourceLocation: sourceLocation)
        let ss = try fixture.namespace.exec("ss", [flags + "nH"] + filter)
        #expect(ss.status == 0, "ss \(flags) \(filter): \(ss)", sourceLocation: sourceLocation)
        // `state NAME` alone: both leave the State column out.
        let state = filter.first == "state" ? TCPState(name: filter[1]) : nil
        let mine = tuples(ours, state: state)
        expectSame(mine, tuples(ss, state: state), "list \(flags) \(filter) vs ss", sourceLocation: sourceLocation)
        #expect(mine.count == ours.lines.count, "unparsed rows: \(ours.stdout)", sourceLocation: sourceLocation)
    }

    @Test("-la is all states and -al listening ones: the last of -a and -l wins, as in ss")
    func stateFlagsLastWins() throws {
        let fixture = try CLIFixture.require()
        try expectAsSS("-tula", [])
        try expectAsSS("-tual", [])
        let all = try fixture.sockscan("list", ["-tula", "-H"])
        let listening = try fixture.sockscan("list", ["-tual", "-H"])
        #expect(tuples(all) == fixture.mix.expected)
        #expect(tuples(listening) == fixture.mix.expected.filter { $0.state == .listen || $0.state == .close })
    }

    @Test(
        "filters in ss's spellings select what ss selects",
        arguments: [
            ["state", "unconnected"], ["state", "syn-rcv"], ["exclude", "unconnected"], ["src", "0x7f.0.0.1"],
            ["src", "2130706433"], ["src", "127.1"], ["sport", "=", ":0x1b59"], ["sport", "=", ":015531"],
            ["dst", "any"], ["dst", "all:0x1b59"], ["src", "localhost"], ["dst", "localhost:7001"],
            ["src", "127.0.0.1/255.0.0.0"], ["dst", "inet6:*"], ["src", "inet6:[::1]:7006"],
        ])
    func spellings(filter: [String]) throws {
        try expectAsSS("-tua", filter)
    }

    @Test("a host name's every address: localhost is 127.0.0.1 (and ::1 where /etc/hosts says so)")
    func hostName() throws {
        let fixture = try CLIFixture.require()
        let byName = try fixture.sockscan("list", ["-tua", "-H", "src", "localhost"])
        let byAddress = try fixture.sockscan("list", ["-tua", "-H", "src", "127.0.0.1"])
        #expect(byName.status == 0 && byAddress.status == 0, "\(byName)")
        #expect(tuples(byAddress).isSubset(of: tuples(byName)))
        #expect(!tuples(byAddress).isEmpty)
        let explained = try fixture.sockscan("count", ["-ta", "--explain", "src", "localhost"])
        #expect(explained.stdout.contains("src 127.0.0.1"), "\(explained)")
    }
}
