import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

/// The `ss` selection of the commands that scan and print sockets (`list`, `count`, `kill`): `-t -u -4 -6`,
/// `-a`/`-l`, `-n`, `--netns`, `--proc`, `--tcp-strategy`, `--explain` and the filter words, and what they ask for.
///
/// Each command declares them as its first properties, in this order, through the shared initialisers (so
/// that `--help` lists them first):
///
///     @Flag(.tcp) var tcp = false
///     @Flag(.udp) var udp = false
///     @Flag(.ipv4) var ipv4 = false
///     @Flag(.ipv6) var ipv6 = false
///     @Flag(exclusivity: .chooseLast) var stateSelection: StateSelection?
///     @Flag(.numeric) var numeric = false
///     @Option(.netns) var netns: String?
///     @Flag(.proc) var proc = false
///     @Option(.tcpStrategy) var tcpStrategy: TCPDumpStrategy = .automatic
///     @Flag(.explain) var explain = false
///     @Argument(.filter) var filter: [String] = []
///
/// and its `validate()` calls ``validateSelection()`` first. Plain properties rather than an option group:
/// ArgumentParser builds a command's arguments about ten times while it parses, and a group adds its own
/// reflection each time (1.1M instructions, 7% of the start-up of `sockscan count`).
protocol ScanSelection {
    var tcp: Bool { get }
    var udp: Bool { get }
    var ipv4: Bool { get }
    var ipv6: Bool { get }
    /// `-a` or `-l`; as in `ss`, the last one given wins (`-la` is all states, `-al` listening ones).
    var stateSelection: StateSelection? { get }
    var netns: String? { get }
    var proc: Bool { get }
    var tcpStrategy: TCPDumpStrategy { get }
    var explain: Bool { get }
    var filter: [String] { get }
}

extension ScanSelection {
    /// `-a`: all states.
    var all: Bool { stateSelection == .all }
    /// `-l`: listening sockets (and unconnected UDP).
    var listening: Bool { stateSelection == .listening }

    /// Checks what the selection's options cannot say alone: an empty `--netns`, `-4` with `-6`.
    func validateSelection() throws {
        try requireNonEmpty(netns, "--netns")
        _ = try selectedFamilies(ipv4: ipv4, ipv6: ipv6)
    }

    var protocols: ProtocolSet { selectedProtocols(tcp: tcp, udp: udp) }

    var families: FamilySet { (try? selectedFamilies(ipv4: ipv4, ipv6: ipv6)) ?? .all }

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

/// The state flags `-a` and `-l`.
///
/// Text output streamable, because ArgumentParser keys each case by `String(describing:)` each time it builds
/// the flag, which otherwise reflects on the enum (0.75M instructions per start instead of 0.37M). That looks
/// for `TextOutputStreamable` first: a `description` would cost one more look through every conformance
/// linked in (0.15M).
enum StateSelection: EnumerableFlag, TextOutputStreamable {
    case all
    case listening

    static func name(for value: Self) -> NameSpecification {
        switch value {
        case .all: [.customShort("a"), .customLong("all")]
        case .listening: [.customShort("l"), .customLong("listening")]
        }
    }

    static func help(for value: Self) -> ArgumentHelp? {
        switch value {
        case .all: "All states (listening, time-wait and unconnected too)."
        case .listening: "Listening sockets only (and unconnected UDP). Of -a and -l the last one counts, as in ss."
        }
    }

    func write<Target: TextOutputStream>(to target: inout Target) {
        switch self {
        case .all: target.write("all")
        case .listening: target.write("listening")
        }
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

    /// None: the values describe themselves (ArgumentParser's default works that out anew each time it builds the option).
    public static var allValueDescriptions: [String: String] { [:] }
}

/// What an empty value of each path-like option should have been.
private let expectedValues = [
    "--netns": "a namespace: an ip netns name, a path or a PID",
    "--db": "the path of a history database",
    "--chart": "the path of an SVG file to write",
]

/// Throws a usage error naming `option` when its value is the empty string (`--db ''`, `--netns "$UNSET"`).
package func requireNonEmpty(_ value: String?, _ option: String) throws {
    guard let value else { return }
    if value.isEmpty {
        throw ValidationError("\(option) is empty; it needs \(expectedValues[option] ?? "a value")")
    }
    if option == "--netns", let number = Int(value), number <= 0 {
        throw ValidationError(
            "--netns \(value) is not a process id (a PID is a positive number); it needs \(expectedValues[option]!)")
    }
}

/// `arguments` with a long tail of filter words joined into one argument (as a shell passes `"$(…)"`).
///
/// ArgumentParser collects the words of a `.remaining` argument in time quadratic in their number (8,000
/// words took a minute); the filter joins its words with spaces anyway, so joining them first changes
/// nothing but the time. Only words that cannot be options or option values are joined: those after the
/// last argument starting with `-`, less the two after it (that option's value, and the first word of
/// the filter).
package func joiningFilterWords(_ arguments: [String]) -> [String] {
    let start = (arguments.lastIndex { $0.hasPrefix("-") } ?? -1) + 3
    guard arguments.count - start > 64 else { return arguments }
    return Array(arguments[..<start]) + [arguments[start...].joined(separator: " ")]
}

/// Filter words parsed as one `ss` expression, or `nil` when there are none; a bad one is a usage error with
/// the caret under the offending word (and a window of the words around it when they are long).
package func parseFilterWords(_ words: [String]) throws -> Filter? {
    guard !words.isEmpty else { return nil }
    do {
        return try Filter(parsing: words)
    } catch {
        throw UsageError(message: error.description)
    }
}
