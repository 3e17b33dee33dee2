import ArgumentParser
import SockDiag
import SockFormat
import SockReport

/// Selects the shared `--netns` declaration: `@Option(.netns) var netns: String?`.
package enum NamespaceOptionName { case netns }

/// Selects the shared `--format` declaration: `@Option(.format) var format: RowFormat = .table`.
package enum FormatOptionName { case format }

/// Selects the shared `--top` declaration of the destination reports: `@Option(.top) var top: Int = 10`.
package enum TopOptionName { case top }

/// Selects a verdict threshold of the destination reports (`ports`, `churn`):
/// `@Option(.warn, of: "Utilization") var warn: Double = 70`.
package enum ThresholdOptionName: String {
    case warn, critical
}

/// Selects a shared flag declaration: `@Flag(.tcp) var tcp = false`.
package enum SharedFlagName {
    /// `-t`/`--tcp`.
    case tcp
    /// `-u`/`--udp`.
    case udp
    /// `-4`/`--ipv4`.
    case ipv4
    /// `-6`/`--ipv6`.
    case ipv6
    /// `-H`/`--no-header` of the commands that print socket rows.
    case noHeader
    /// `-e`/`--extended`.
    case extended
    /// `-i`/`--info`.
    case info
    /// `-n`/`--numeric`, taken for `ss` compatibility.
    case numeric
    /// `--proc`: read /proc/net.
    case proc
    /// `--explain`: print the kernel program.
    case explain
}

/// Selects the shared `--tcp-strategy` declaration: `@Option(.tcpStrategy) var tcpStrategy: TCPDumpStrategy = .automatic`.
package enum TCPStrategyOptionName { case tcpStrategy }

/// Selects the shared filter argument: `@Argument(.filter) var filter: [String] = []`.
package enum FilterArgumentName {
    /// The filter of a scan (`list`, `count`, `kill`): every condition of the language.
    case filter
    /// The filter of destroyed sockets (`events`): addresses, ports and devices; not `state` or `autobound`.
    case eventFilter
}

// The options several commands take, declared once here and used through these initialisers (plain options,
// not option groups: ArgumentParser's reflection over a group costs several million instructions at start-up).

extension Option where Value == String? {
    /// `--netns NAME|PATH|PID`, for every command that reads a namespace (its `validate()` calls
    /// ``requireNonEmpty(_:_:)``; ``namespace(_:)`` opens it).
    package init(_ name: NamespaceOptionName) {
        // A value that starts with '-' (`--netns -1`) is the value, not a flag: it is then refused for what
        // it is, instead of "Missing value".
        self.init(
            name: .customLong("netns"), parsing: .unconditional,
            help: ArgumentHelp(
                "Scan another network namespace: an ip netns name, a path (/run/netns/NAME, /proc/PID/ns/net) or a "
                    + "PID.",
                valueName: "NAME|PATH|PID"))
    }
}

extension Flag where Value == Bool {
    /// The flag `name` selects, with its one help text.
    package init(wrappedValue: Bool, _ name: SharedFlagName) {
        switch name {
        case .tcp:
            self.init(
                wrappedValue: wrappedValue, name: [.customShort("t"), .customLong("tcp")],
                help: "TCP sockets (the default when neither -t nor -u is given).")
        case .udp:
            self.init(wrappedValue: wrappedValue, name: [.customShort("u"), .customLong("udp")], help: "UDP sockets.")
        case .ipv4:
            self.init(wrappedValue: wrappedValue, name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.")
        case .ipv6:
            self.init(wrappedValue: wrappedValue, name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.")
        case .noHeader:
            self.init(
                wrappedValue: wrappedValue, name: [.customShort("H"), .customLong("no-header")],
                help: "Do not print the header line (table, CSV).")
        case .extended:
            self.init(
                wrappedValue: wrappedValue, name: [.customShort("e"), .customLong("extended")],
                help: "Show uid, inode, cookie, interface and timer.")
        case .info:
            self.init(
                wrappedValue: wrappedValue, name: [.customShort("i"), .customLong("info")],
                help: "Show TCP internals (tcp_info: rtt, cwnd, retransmits, bytes).")
        case .numeric:
            self.init(
                wrappedValue: wrappedValue, name: [.customShort("n"), .customLong("numeric")],
                help: "Accepted for ss compatibility (-tan, -tlnp) and ignored: output is always numeric.")
        case .proc:
            self.init(
                wrappedValue: wrappedValue, name: .customLong("proc"),
                help: "Read /proc/net instead of sock_diag (slower; for comparison).")
        case .explain:
            self.init(
                wrappedValue: wrappedValue, name: .customLong("explain"),
                help: "Print the kernel program the filter compiles to, then exit without scanning.")
        }
    }
}

extension Option where Value == TCPDumpStrategy {
    /// `--tcp-strategy automatic|per-family|one-pass`.
    package init(wrappedValue: TCPDumpStrategy, _ name: TCPStrategyOptionName) {
        self.init(
            wrappedValue: wrappedValue, name: .customLong("tcp-strategy"),
            help: ArgumentHelp("How TCP over both families is dumped.", valueName: "strategy"))
    }
}

/// The conditions of the filter language that every filter takes, for the filter argument's help.
private let filterConditions = "sport/dport OP :PORT | src/dst ADDR[/LEN][:PORT] | dev NAME"

/// How conditions combine and what their values look like, for the filter argument's help.
private let filterCombination = """
    combined with and/or/not and parentheses (and/or bind equally, left to right, as in ss).
    OP: = != < > <= >= (eq neq lt gt le ge). Numbers as in C (:0x1bb).
    ADDR: an IPv4/IPv6 address, *, any, or a host name (all its addresses); inet: or inet6: before it.
    """

/// The filter argument's help, made once: ArgumentParser builds a command's arguments about ten times while it
/// parses, and this text (with every state name) each time cost 0.3M instructions.
private let scanFilterHelp = ArgumentHelp(
    "A filter in ss syntax, as one or several arguments.",
    discussion: """
        state NAME | exclude NAME | \(filterConditions) | autobound,
        \(filterCombination)
        States: \(StateSet.validNames.joined(separator: " ")).
        """,
    valueName: "filter")

/// The help of the filter of destroyed sockets, made once (see `scanFilterHelp`).
private let eventFilterHelp = ArgumentHelp(
    "A filter in ss syntax, as one or several arguments, tested on each destroyed socket.",
    discussion: """
        \(filterConditions),
        \(filterCombination)
        Not state (every destroyed socket is in state close) nor autobound (only a dump can test it).
        """,
    valueName: "filter")

extension Argument where Value == [String] {
    /// The filter words after the options, with the help `name` selects.
    package init(wrappedValue: [String], _ name: FilterArgumentName) {
        switch name {
        case .filter: self.init(wrappedValue: wrappedValue, parsing: .remaining, help: scanFilterHelp)
        case .eventFilter: self.init(wrappedValue: wrappedValue, parsing: .remaining, help: eventFilterHelp)
        }
    }
}

extension TimeSpan {
    /// A duration option's value (`transform:` of an `@Option`): a usage error saying why when it is not one.
    package static func argument(_ syntax: Syntax) -> @Sendable (String) throws -> TimeSpan {
        { text in
            do {
                return try TimeSpan(parsing: text, syntax: syntax)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }
}

/// The protocols `-t` and `-u` select: TCP when neither is given.
package func selectedProtocols(tcp: Bool, udp: Bool) -> ProtocolSet {
    var set: ProtocolSet = []
    if tcp { set.insert(.tcp) }
    if udp { set.insert(.udp) }
    return set.isEmpty ? .tcp : set
}

/// The families `-4` and `-6` select: both when neither is given.
///
/// - Throws: a usage error when both are given.
package func selectedFamilies(ipv4: Bool, ipv6: Bool) throws -> FamilySet {
    if ipv4 && ipv6 { throw ValidationError("-4 and -6 exclude each other; give neither for both families") }
    return ipv4 ? .inet : ipv6 ? .inet6 : .all
}

extension Option where Value == Int {
    /// `--top N`: how many destinations `ports` and `churn` show, worst first.
    package init(wrappedValue: Int, _ name: TopOptionName) {
        self.init(
            wrappedValue: wrappedValue, name: .customLong("top"), parsing: .unconditional,
            help: ArgumentHelp("Show the N worst destinations.", valueName: "N"))
    }
}

extension Option where Value == Double {
    /// `--warn PCT` or `--critical PCT`: the percentage of `measure` (the command's words for what it
    /// rates) at which the verdict becomes warn or critical (``validateThresholds(top:warn:critical:failAt:)``
    /// checks them).
    package init(wrappedValue: Double, _ name: ThresholdOptionName, of measure: String) {
        self.init(
            wrappedValue: wrappedValue, name: .customLong(name.rawValue), parsing: .unconditional,
            help: ArgumentHelp("\(measure) for a \(name.rawValue) verdict.", valueName: "PCT"))
    }
}

extension Option where Value: FormatChoice {
    /// `--format`, for every command that has one: `Output format: table, json or csv.`, with the values and
    /// the default (what each prints is in the command's discussion).
    package init(wrappedValue: Value, _ name: FormatOptionName) {
        self.init(wrappedValue: wrappedValue, name: .customLong("format"), help: Value.help)
    }
}

/// The values of a command's `--format`.
///
/// What ArgumentParser asks of the values is made once and stored: it builds a command's options about ten
/// times while it parses, and its defaults map `allCases` anew each time (0.8M instructions of a 15M start).
package protocol FormatChoice: ExpressibleByArgument, CaseIterable, RawRepresentable<String> {
    /// `Output format: table, json or csv.` (``formatHelp()``).
    static var help: ArgumentHelp { get }

    /// The raw values (`allCases.map(\.rawValue)`), for the help and the completion scripts.
    static var allValueStrings: [String] { get }
}

extension FormatChoice {
    /// None: the values describe themselves.
    package static var allValueDescriptions: [String: String] { [:] }

    /// `Output format: table, json or csv.`
    package static func formatHelp() -> ArgumentHelp {
        // Appended one by one: `joined(separator:)` on a slice costs a first generic lookup worth more than
        // the rest of the parse.
        var list = ""
        let names = allCases.map { $0.rawValue }
        for (i, name) in names.enumerated() {
            if i > 0 { list += i == names.count - 1 ? " or " : ", " }
            list += name
        }
        return ArgumentHelp("Output format: \(list).")
    }
}

/// The namespace `--netns` names, or `nil` for this process's.
package func namespace(_ netns: String?) throws -> NetworkNamespace? { try netns.map { try NetworkNamespace($0) } }

/// `--format` of the commands that print rows or counts: `list`, `count`, `report`.
package enum RowFormat: String, FormatChoice {
    package static let help = formatHelp()
    package static let allValueStrings = allCases.map(\.rawValue)

    case table
    case json
    case csv
}

extension RowFormat {
    /// Writes what starts the output in this format: the table's column line, the CSV header, nothing for NDJSON.
    package func writeHeader(_ formatter: RecordFormatter, into out: inout TextWriter) {
        switch self {
        case .table: formatter.writeHeader(into: &out)
        case .csv: formatter.writeCSVHeader(into: &out)
        case .json: break
        }
    }

    /// Writes one socket in this format.
    @inline(__always)
    package func write(
        _ record: SocketRecord, _ formatter: inout RecordFormatter, owners: ProcessTable? = nil,
        into out: inout TextWriter
    ) {
        switch self {
        case .json: formatter.writeJSON(record, owners: owners, into: &out)
        case .csv: formatter.writeCSV(record, owners: owners, into: &out)
        case .table: formatter.writeRow(record, owners: owners, into: &out)
        }
    }

    /// Writes one event in this format.
    package func write(_ event: SocketEvent, _ formatter: inout RecordFormatter, into out: inout TextWriter) {
        switch self {
        case .json: formatter.writeJSON(event, into: &out)
        case .csv: formatter.writeCSV(event, into: &out)
        case .table: formatter.writeRow(event, into: &out)
        }
    }
}

/// `--format` of the commands that print one document: `ports`, `summary`.
package enum DocumentFormat: String, FormatChoice {
    package static let help = formatHelp()
    package static let allValueStrings = allCases.map(\.rawValue)

    case table
    case json
}

/// `--format` of `sockscan metrics`.
package enum MetricsFormat: String, FormatChoice {
    package static let help = formatHelp()
    package static let allValueStrings = allCases.map(\.rawValue)

    case prometheus
    case openmetrics
}
