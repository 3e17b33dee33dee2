import ArgumentParser
import SockDiag
import SockReport

/// Selects the shared `--netns` declaration: `@Option(.netns) var netns: String?`.
package enum NamespaceOptionName { case netns }

/// Selects the shared `--format` declaration: `@Option(.format) var format: RowFormat = .table`.
package enum FormatOptionName { case format }

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

extension Option where Value: FormatChoice {
    /// `--format`, for every command that has one: `Output format: table, json or csv.`, with the values and
    /// the default (what each prints is in the command's discussion).
    package init(wrappedValue: Value, _ name: FormatOptionName) {
        self.init(wrappedValue: wrappedValue, name: .customLong("format"), help: Value.help)
    }
}

/// The values of a command's `--format`.
package protocol FormatChoice: ExpressibleByArgument, CaseIterable, RawRepresentable<String> {
    /// `Output format: table, json or csv.`: made once (ArgumentParser builds a command's options many times
    /// while it parses, and making this text each time costs more than parsing the arguments).
    static var help: ArgumentHelp { get }
}

extension FormatChoice {
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

    case table
    case json
    case csv
}

/// `--format` of the commands that print one document: `ports`, `summary`.
package enum DocumentFormat: String, FormatChoice {
    package static let help = formatHelp()

    case table
    case json
}

/// `--format` of `sockscan metrics`.
package enum MetricsFormat: String, FormatChoice {
    package static let help = formatHelp()

    case prometheus
    case openmetrics
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
