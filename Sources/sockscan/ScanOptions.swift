import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

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

    @Option(.netns) var netns: String?

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
        try validateDevices(try parsedFilter(), netns: netns)
    }

    /// The filter words parsed, or `nil` when none were given.
    func parsedFilter() throws -> Filter? { try parseFilterWords(filter) }

    var protocols: ProtocolSet {
        var set: ProtocolSet = []
        if tcp { set.insert(.tcp) }
        if udp { set.insert(.udp) }
        return set.isEmpty ? .tcp : set
    }

    var families: FamilySet { ipv4 ? .inet : ipv6 ? .inet6 : .all }

    /// The states before the filter: `-a`, `-l`, or what `ss` shows by default; a filter that names states
    /// itself starts from all of them.
    func baseStates(_ filter: Filter?) -> StateSet {
        if filter?.expression.mentionsState == true { return .all }
        if listening { return StateSet([.listen, .close]) }
        if all { return .all }
        return .ssDefault
    }

    func query(extensions: ScanExtensions = []) throws -> ScanQuery {
        let filter = try parsedFilter()
        return ScanQuery(
            protocols: protocols, families: families, states: baseStates(filter), extensions: extensions, filter: filter
        )
    }

    /// Prints what `--explain` shows: the parsed filter, then the kernel program and the user-space rest.
    func printExplanation(_ scanner: Scanner, _ query: ScanQuery) throws {
        var text = "filter: \(query.filter.map { $0.description } ?? "none")\n"
        text +=
            "protocols: \([ProtocolSet.tcp, .udp].filter { query.protocols.contains($0) }.map { $0 == .tcp ? "tcp" : "udp" }.joined(separator: " "))"
        text +=
            "  families: \(AddressFamily.allCases.filter { query.families.contains($0) }.map(\.description).joined(separator: " "))\n"
        let program: KernelProgram
        do {
            program =
                try query.filter.map { try scanner.kernelProgram(for: $0, baseStates: query.states) }
                ?? KernelProgram(nil, baseStates: query.states)
        } catch let error as FilterCompileError {
            throw ValidationError(error.description)
        }
        text += program.explanation + "\n"
        var out = TextWriter()
        out.write(text)
        try out.flush(to: STDOUT_FILENO)
    }

    func makeScanner() throws -> Scanner {
        let namespace = try netns.map { try NetworkNamespace($0) }
        let scanner = try Scanner(namespace: namespace, tcpStrategy: tcpStrategy, onWarning: { Console.warn($0) })
        if proc { scanner.forceProcfs() }
        return scanner
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

/// Looks up the devices `filter` names in the namespace to scan, so that an unknown one is a usage error of
/// the subcommand (its usage line, exit 64). A namespace that cannot be opened or entered is left to `run()`,
/// which reports it as the runtime failure it is.
func validateDevices(_ filter: Filter?, netns: String?) throws {
    guard let filter, filter.expression.mentionsDevice else { return }
    do {
        let namespace = try netns.map { try NetworkNamespace($0) }
        _ = try Scanner.resolvingDevices(filter, in: namespace)
    } catch let error as FilterCompileError {
        throw ValidationError(error.description)
    } catch {
        return
    }
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

/// stderr messages and exit codes.
enum Console {
    static func warn(_ message: String) {
        var w = TextWriter()
        w.write(message)
        w.write(byte: UInt8(ascii: "\n"))
        try? w.flush(to: STDERR_FILENO)
    }
}

/// Runs a scan and turns its runtime failures into one line on stderr and exit 1.
func runtime<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as OutputError {
        guard case .failed(let code) = error else { throw ExitCode.success }  // the reader left (| head)
        Console.warn("sockscan: cannot write to standard output: \(String(cString: strerror(code)))")
        throw ExitCode.failure
    } catch let error as ValidationError {
        throw error
    } catch let error as FilterCompileError {
        throw ValidationError(error.description)
    } catch let error as ExitCode {
        throw error
    } catch {
        Console.warn("sockscan: \(error)")
        throw ExitCode.failure
    }
}

/// Filter words parsed as one `ss` expression, or `nil` when there are none; a bad one is a usage error with
/// the caret under the offending word.
func parseFilterWords(_ words: [String]) throws -> Filter? {
    guard !words.isEmpty else { return nil }
    do {
        return try Filter(parsing: words)
    } catch {
        throw ValidationError(error.description)
    }
}
