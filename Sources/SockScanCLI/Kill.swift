import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

public struct Kill: ScanCommand, ScanSelection {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "kill",
        abstract: "Close the sockets a filter selects (SOCK_DESTROY, like ss -K).",
        discussion: """
            The kernel aborts each socket: a TCP peer gets a reset (its recv fails with ECONNRESET), the \
            owner's next call fails with ECONNABORTED. The sockets are the ones list shows for the same \
            options and filter: connected ones by default, every state but listen with -a. Listening sockets \
            are closed only when the filter says so in words, state listen (or state listening); state all, \
            exclude and -a leave them open, and a note says how many matched. -l is refused for the same \
            reason. A filter is required: to close every connected socket, say so (state connected).

            The closed sockets are printed as list prints them (table, NDJSON, CSV); --dry-run prints what \
            would be closed and closes nothing. Then one line on stderr:
              sockscan kill: 20 matched: 19 closed, 1 gone, 0 refused
            gone: closed meanwhile (ENOENT); refused: the kernel would not close them, by errno.

            Needs CAP_NET_ADMIN and a kernel built with CONFIG_INET_DIAG_DESTROY (--dry-run needs neither).

            Exit status: 0 every matched socket is closed or gone (none matched too); 1 a socket was \
            refused, or a runtime failure (no CAP_NET_ADMIN, no CONFIG_INET_DIAG_DESTROY); 64 a usage error \
            (no filter, -l, --proc, a bad filter).

            Examples:
              sockscan kill --dry-run dst 10.0.0.5    what would be closed, nothing closed
              sockscan kill dst 10.0.0.5:443          cut one bad upstream's connections
              sockscan kill state close-wait sport = :8080
                                                      free a stuck CLOSE_WAIT pile
              sockscan kill -a dport = :5432          TIME_WAIT, SYN_RECV too (not listen)
              sockscan kill state listen sport = :9999    a listener, named as such
              sockscan kill --netns gw1 --format json state established dport = :80
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    // The ss selection (ScanSelection), first so that --help lists it first.
    @Flag(.tcp) var tcp = false
    @Flag(.udp) var udp = false
    @Flag(.ipv4) var ipv4 = false
    @Flag(.ipv6) var ipv6 = false
    @Flag(exclusivity: .chooseLast) var stateSelection: StateSelection?
    @Flag(.numeric) var numeric = false
    @Option(.netns) var netns: String?
    @Flag(.proc) var proc = false
    @Option(.tcpStrategy) var tcpStrategy: TCPDumpStrategy = .automatic
    @Flag(.explain) var explain = false
    @Argument(.filter) var filter: [String] = []

    @Flag(.noHeader) var noHeader = false

    @Flag(name: .customLong("dry-run"), help: "Print the sockets that would be closed; close nothing.")
    var dryRun = false

    @Option(.format) var format: RowFormat = .table

    public mutating func validate() throws {
        try validateSelection()
        if filter.isEmpty {
            throw ValidationError(
                "kill needs a filter saying which sockets to close (dst 10.0.0.5, dport = :443, state close-wait, "
                    + "...); to close every connected socket, say so: sockscan kill state connected")
        }
        if listening {
            throw ValidationError(
                "kill does not take -l: it closes listening sockets only when the filter names them, as in "
                    + "sockscan kill state listen sport = :8080")
        }
        if proc {
            throw ValidationError("kill does not take --proc: closing sockets needs sock_diag (SOCK_DESTROY)")
        }
    }

    public func run() throws {
        let summary = try runtime { try killMatching() }
        if !summary.refused.isEmpty { throw ExitCode.failure }
    }

    /// Whether filter words name the state listen in so many words: `state listen` or `state listening`.
    static func namesListen(_ words: [String]) -> Bool {
        let tokens = words.joined(separator: " ").lowercased().split { $0 == " " || $0 == "(" || $0 == ")" }
        return zip(tokens, tokens.dropFirst()).contains { $0 == "state" && ($1 == "listen" || $1 == "listening") }
    }

    /// `error` of ``Scanner/kill(_:_:)`` as the user should read it: what the kernel's refusal means, and
    /// what to do.
    static func explained(_ error: SockDiagError) -> any Error {
        switch error.errno {
        case .notPermitted?, .permissionDenied?:
            CommandFailure(
                "closing sockets needs CAP_NET_ADMIN: the kernel refused SOCK_DESTROY (\(Self.errnoText(error))); "
                    + "run it as root, or see what would be closed with --dry-run")
        case .notSupported?:
            CommandFailure(
                "this kernel cannot close sockets: it was built without CONFIG_INET_DIAG_DESTROY (SOCK_DESTROY: "
                    + "\(Self.errnoText(error)))")
        default: error
        }
    }

    /// `Operation not permitted, EPERM`: the error's errno as text and name.
    static func errnoText(_ error: SockDiagError) -> String {
        guard let errno = error.errno else { return error.description }
        return "\(errno), \(errno.symbolicName)"
    }

    /// Closes (or with `--dry-run` lists) the sockets the options and filter select, printing each; then the
    /// summary line.
    private func killMatching() throws -> KillSummary {
        let query = try query()
        let scanner = try makeScanner()
        var prepared = try scanner.prepare(query)
        var listening = 0
        if prepared.states.contains(.listen), !Self.namesListen(filter), let filter = query.filter {
            // The same states but listen: every state the filter leaves is named, so the base states of the
            // query no longer matter (ss's rule for a filter naming states).
            var rest = query
            rest.filter = Filter(.and(filter.expression, .state(prepared.states.subtracting(StateSet(.listen)))))
            var listeners = query
            listeners.filter = Filter(.and(filter.expression, .state(StateSet(.listen))))
            listening = Int(try scanner.count(try scanner.prepare(listeners)).total)
            prepared = try scanner.prepare(rest)
        }
        if explain {
            try printExplanation(prepared)
            return KillSummary()
        }
        var fields: RecordFormatter.Fields = []
        if query.protocols == .all { fields.insert(.netid) }
        var formatter = RecordFormatter(fields: fields) { scanner.interfaceName($0) }
        var out = TextWriter(capacity: 65536)
        if !noHeader { format.writeHeader(formatter, into: &out) }
        let format = format
        var outputError: OutputError?
        func write(_ record: SocketRecord) {
            format.write(record, &formatter, into: &out)
            if out.count >= 60000 && outputError == nil {
                do { try out.flush(to: STDOUT_FILENO) } catch { outputError = error }
            }
        }
        var summary = KillSummary()
        if dryRun {
            try scanner.forEach(prepared) { record in
                write(record)
                summary.matched += 1
            }
        } else {
            do {
                summary = try scanner.kill(prepared) { record, result in
                    if case .success = result { write(record) }
                }
            } catch {
                throw Self.explained(error)
            }
        }
        if let outputError { throw outputError }
        try out.flush(to: STDOUT_FILENO)
        var line = "sockscan kill: "
        if dryRun {
            line += "dry run: \(summary.matched) matched, would be closed; nothing closed"
        } else {
            let refused = summary.refused.values.reduce(0, +)
            line += "\(summary.matched) matched: \(summary.closed) closed, \(summary.gone) gone, \(refused) refused"
            if refused > 0 {
                let byErrno = summary.refused.sorted { $0.key.rawValue < $1.key.rawValue }.map {
                    "\($0.key.symbolicName) \($0.value)"
                }
                line += " (\(byErrno.joined(separator: ", ")))"
            }
        }
        if listening > 0 {
            line += "; \(listening) listening left open (kill closes listeners only when the filter says state listen)"
        }
        Console.warn(line)
        return summary
    }
}
