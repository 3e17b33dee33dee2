import ArgumentParser
import SockDiag

/// `--netns`, declared once for every command that reads a namespace.
struct NamespaceOption: ParsableArguments {
    @Option(
        name: .customLong("netns"),
        help: ArgumentHelp(
            "Scan another network namespace: an ip netns name, a path (/run/netns/NAME, /proc/PID/ns/net) or a PID.",
            valueName: "NAME|PATH|PID"))
    var netns: String?

    func validate() throws { try requireNonEmpty(netns, "--netns") }

    /// The namespace named, or `nil` for this process's.
    func namespace() throws -> NetworkNamespace? { try netns.map { try NetworkNamespace($0) } }
}

/// The values of a command's `--format`: what it can print and what it prints by default.
protocol FormatChoice: RawRepresentable<String>, ExpressibleByArgument, CaseIterable {
    /// The format without `--format`.
    static var defaultFormat: Self { get }
    /// What `--help` adds after the values.
    static var note: String { get }
}

/// `--format`, declared the same way by every command that has one.
struct FormatOption<Format: FormatChoice>: ParsableArguments {
    @Option(name: .customLong("format"), help: ArgumentHelp(Self.help))
    var format: Format = Format.defaultFormat

    /// `Output format: table, json or csv (…).`
    static var help: String {
        let names = Format.allCases.map(\.rawValue)
        let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
        return "Output format: \(list) (\(Format.note))."
    }
}

/// `--format` of the commands that print rows or counts: `list`, `count`, `report`.
enum RowFormat: String, FormatChoice {
    case table
    case json
    case csv

    static let defaultFormat = RowFormat.table
    static let note = "JSON and CSV as described above"
}

/// `--format` of the commands that print one document: `ports`, `summary`.
enum DocumentFormat: String, FormatChoice {
    case table
    case json

    static let defaultFormat = DocumentFormat.table
    static let note = "JSON as described above"
}

/// `--format` of `sockscan metrics`.
enum MetricsFormat: String, FormatChoice {
    case prometheus
    case openmetrics

    static let defaultFormat = MetricsFormat.prometheus
    static let note = "the Prometheus text format 0.0.4 or OpenMetrics 1.0; stdout only"
}
