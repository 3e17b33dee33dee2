import ArgumentParser
import SockDiag

/// Selects the shared `--netns` declaration: `@Option(.netns) var netns: String?`.
enum NamespaceOptionName { case netns }

/// Selects the shared `--format` declaration: `@Option(.format) var format: RowFormat = .table`.
enum FormatOptionName { case format }

// The options several commands take, declared once here and used through these initialisers (plain options,
// not option groups: ArgumentParser's reflection over a group costs several million instructions at start-up).

extension Option where Value == String? {
    /// `--netns NAME|PATH|PID`, for every command that reads a namespace (its `validate()` calls
    /// ``requireNonEmpty(_:_:)``; ``namespace(_:)`` opens it).
    init(_ name: NamespaceOptionName) {
        self.init(
            name: .customLong("netns"),
            help: ArgumentHelp(
                "Scan another network namespace: an ip netns name, a path (/run/netns/NAME, /proc/PID/ns/net) or a "
                    + "PID.",
                valueName: "NAME|PATH|PID"))
    }
}

extension Option where Value: ExpressibleByArgument & CaseIterable & RawRepresentable<String> {
    /// `--format`, for every command that has one: `Output format: table, json or csv.`, with the values and
    /// the default (what each prints is in the command's discussion).
    init(wrappedValue: Value, _ name: FormatOptionName) {
        let names = Value.allCases.map(\.rawValue)
        let list = names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
        self.init(wrappedValue: wrappedValue, name: .customLong("format"), help: "Output format: \(list).")
    }
}

/// The namespace `--netns` names, or `nil` for this process's.
func namespace(_ netns: String?) throws -> NetworkNamespace? { try netns.map { try NetworkNamespace($0) } }

/// `--format` of the commands that print rows or counts: `list`, `count`, `report`.
enum RowFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
    case csv

}

/// `--format` of the commands that print one document: `ports`, `summary`.
enum DocumentFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json

}

/// `--format` of `sockscan metrics`.
enum MetricsFormat: String, ExpressibleByArgument, CaseIterable {
    case prometheus
    case openmetrics

}
