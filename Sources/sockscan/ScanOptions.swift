import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Output formats.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// The `ss` selection flags shared by the subcommands that scan.
struct ScanOptions: ParsableArguments {
    @Flag(
        name: [.customShort("t"), .customLong("tcp")],
        help: "TCP sockets (the default when neither -t nor -u is given).")
    var tcp = false

    @Flag(name: [.customShort("u"), .customLong("udp")], help: "UDP sockets.")
    var udp = false

    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.")
    var ipv4 = false

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.")
    var ipv6 = false

    @Flag(
        name: [.customShort("a"), .customLong("all")], help: "All states (listening, time-wait and unconnected too).")
    var all = false

    @Flag(name: [.customShort("l"), .customLong("listening")], help: "Listening sockets only (and unconnected UDP).")
    var listening = false

    @Flag(
        name: [.customShort("n"), .customLong("numeric")],
        help: "Accepted for ss compatibility (-tan, -tlnp) and ignored: output is always numeric.")
    var numeric = false

    @Option(
        name: .customLong("netns"), help: ArgumentHelp("Scan another network namespace.", valueName: "NAME|PATH|PID"))
    var netns: String?

    @Flag(name: .customLong("proc"), help: "Read /proc/net instead of sock_diag (slower; for comparison).")
    var proc = false

    @Option(
        name: .customLong("tcp-strategy"),
        help: ArgumentHelp(
            "How TCP over both families is dumped.",
            valueName: "strategy"))
    var tcpStrategy: TCPDumpStrategy = .automatic

    @Flag(
        name: .customLong("explain"),
        help: "Print the kernel program the filter compiles to, then exit without scanning.")
    var explain = false

    @Argument(
        parsing: .remaining,
        help: ArgumentHelp(
            "A filter in ss syntax, as one or several arguments.",
            discussion: """
                state NAME | exclude NAME | sport/dport OP :PORT | src/dst ADDR[/LEN][:PORT] | dev NAME | autobound,
                combined with and/or/not and parentheses (and/or bind equally, left to right, as in ss).
                OP: = != < > <= >= (eq neq lt gt le ge). States: \(StateSet.validNames.joined(separator: " ")).
                """,
            valueName: "filter"))
    var filter: [String] = []

    mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        if ipv4 && ipv6 { throw ValidationError("-4 and -6 exclude each other; give neither for both families") }
        if listening && all { throw ValidationError("-l and -a exclude each other") }
    }

    var protocols: ProtocolSet {
        var set: ProtocolSet = []
        if tcp { set.insert(.tcp) }
        if udp { set.insert(.udp) }
        return set.isEmpty ? .tcp : set
    }

    var families: FamilySet { ipv4 ? .inet : ipv6 ? .inet6 : .all }

    /// The states of `-a`, `-l`, or what `ss` shows by default (a filter that names states starts from all
    /// of them instead: ``Scanner/prepare(_:)`` applies that rule).
    var states: StateSet {
        if listening { return StateSet([.listen, .close]) }
        if all { return .all }
        return .ssDefault
    }

    /// The query these options and filter words ask for.
    ///
    /// - Throws: ``UsageError`` for filter words that do not parse (with the caret under the offending word).
    func query(extensions: ScanExtensions = []) throws -> ScanQuery {
        ScanQuery(
            protocols: protocols, families: families, states: states, extensions: extensions,
            filter: try parseFilterWords(filter))
    }

    /// Opens the scanner these options ask for: the namespace, `/proc` or netlink, the TCP strategy.
    func makeScanner() throws -> Scanner {
        let namespace = try netns.map { try NetworkNamespace($0) }
        return try Scanner(
            namespace: namespace, source: proc ? .procfs : .netlink, tcpStrategy: tcpStrategy,
            logger: Console.logger())
    }

    /// Prints what `--explain` shows: the parsed filter, then the kernel program and the user-space rest.
    func printExplanation(_ scan: PreparedScan) throws {
        var out = TextWriter()
        out.write(scan.explanation)
        out.write("\n")
        try out.flush(to: STDOUT_FILENO)
    }
}

extension TCPDumpStrategy: ExpressibleByArgument {
    /// Kebab case, as the other values on the command line (`per-family`); the camel-case raw values
    /// (`perFamily`) are taken too.
    public init?(argument: String) {
        switch argument {
        case "automatic": self = .automatic
        case "per-family", "perFamily": self = .perFamily
        case "one-pass", "onePass": self = .onePass
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["automatic", "per-family", "one-pass"] }
}

/// What an empty value of each path-like option should have been.
private let expectedValues = [
    "--netns": "a namespace: an ip netns name, a path or a PID",
    "--db": "the path of a history database",
    "--chart": "the path of an SVG file to write",
]

/// Throws a usage error naming `option` when its value is the empty string (`--db ''`, `--netns "$UNSET"`).
func requireNonEmpty(_ value: String?, _ option: String) throws {
    guard value?.isEmpty == true else { return }
    throw ValidationError("\(option) is empty; it needs \(expectedValues[option] ?? "a value")")
}

/// Filter words parsed as one `ss` expression, or `nil` when there are none; a bad one is a usage error with
/// the caret under the offending word.
func parseFilterWords(_ words: [String]) throws -> Filter? {
    guard !words.isEmpty else { return nil }
    do {
        return try Filter(parsing: words)
    } catch {
        throw UsageError(message: error.description)
    }
}
