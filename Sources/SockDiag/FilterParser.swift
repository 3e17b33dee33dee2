#if canImport(Glibc)
    import Glibc
#endif

/// A filter that did not parse: where, and what was expected.
public struct FilterParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The whole expression as parsed (arguments joined by spaces).
    public var source: String
    /// Character offset of the offending token in `source`.
    public var offset: Int
    /// Length of the offending token (at least 1 for the caret).
    public var length: Int
    /// What was wrong: "expected a port number or service name".
    public var message: String

    /// The expression, a caret line under the offending token, and the message.
    public var description: String {
        let caret = String(repeating: " ", count: offset) + String(repeating: "^", count: max(length, 1))
        return "bad filter: \(message)\n  \(source)\n  \(caret)"
    }
}

/// A parsed `ss`-style filter: the expression and the text it came from.
///
/// The language (as `ss` reads it): `state NAME`, `exclude NAME`; `sport`/`dport` with `= == != < > <= >=`
/// (or `eq neq ne lt gt le ge`) and `:PORT` or a service name; `src`/`dst` with an IPv4/IPv6 address, a
/// CIDR prefix, an optional `:PORT`, or `*`; `dev NAME|INDEX`; `autobound`; `and`/`&&`/`&`, `or`/`||`/`|`,
/// `not`/`!`, parentheses. Two conditions side by side mean `and`. As in `ss`, `and` and `or` bind
/// equally and group from the left: `a or b and c` is `(a or b) and c`.
public struct Filter: Hashable, Sendable, CustomStringConvertible {
    /// The expression.
    public var expression: FilterExpression

    /// Wraps an expression built in code.
    public init(_ expression: FilterExpression) {
        self.expression = expression
    }

    /// Parses an expression given as several arguments, the way `ss` takes it (`dport = :443 and state established`).
    ///
    /// - Throws: ``FilterParseError`` pointing at the offending token.
    public init(parsing arguments: [String]) throws(FilterParseError) {
        try self.init(parsing: arguments.joined(separator: " "))
    }

    /// Parses an expression.
    ///
    /// - Throws: ``FilterParseError`` pointing at the offending token.
    public init(parsing text: String) throws(FilterParseError) {
        var parser = FilterParser(text)
        expression = try parser.parseAll()
    }

    /// Evaluates the filter on a record in user space.
    public func matches(_ record: SocketRecord) -> Bool { expression.matches(record) }

    public var description: String { expression.description }
}

/// A token of the filter language with where it starts.
struct FilterToken {
    var text: String
    var offset: Int
}

/// Recursive descent over the `ss` grammar: `list := expr ((and|or)? expr)*`, `expr := ( list ) | not expr | condition`.
struct FilterParser {
    let source: String
    let tokens: [FilterToken]
    var position = 0

    init(_ source: String) {
        self.source = source
        tokens = Self.tokenize(source)
    }

    /// Splits on blanks and around `( ) ! = < > & |` (so `dport>=:80` and `(a)` work without spaces).
    static func tokenize(_ text: String) -> [FilterToken] {
        var tokens: [FilterToken] = []
        let chars = Array(text)
        var i = 0
        let operators: Set<Character> = ["(", ")", "!", "=", "<", ">", "&", "|"]
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" || c == "\n" {
                i += 1
                continue
            }
            if operators.contains(c) {
                var op = String(c)
                if i + 1 < chars.count {
                    let pair = String([c, chars[i + 1]])
                    if ["!=", "<=", ">=", "==", "&&", "||"].contains(pair) { op = pair }
                }
                tokens.append(FilterToken(text: op, offset: i))
                i += op.count
                continue
            }
            let start = i
            while i < chars.count, !operators.contains(chars[i]), chars[i] != " ", chars[i] != "\t", chars[i] != "\n" {
                i += 1
            }
            tokens.append(FilterToken(text: String(chars[start..<i]), offset: start))
        }
        return tokens
    }

    func error(_ message: String, at token: FilterToken? = nil) -> FilterParseError {
        if let token {
            return FilterParseError(source: source, offset: token.offset, length: token.text.count, message: message)
        }
        return FilterParseError(source: source, offset: source.count, length: 1, message: message)
    }

    var current: FilterToken? { position < tokens.count ? tokens[position] : nil }

    mutating func next() -> FilterToken? {
        defer { position += 1 }
        return current
    }

    mutating func parseAll() throws(FilterParseError) -> FilterExpression {
        guard current != nil else { throw error("expected a filter expression") }
        // A leading run of state/exclude words reads as in ss: `state` adds to the set, `exclude` removes.
        var states: StateSet? = nil
        while let word = current, ["state", "exclude", "excl"].contains(word.text.lowercased()) {
            position += 1
            guard let name = next() else {
                throw error("expected a state name: \(StateSet.validNames.joined(separator: " "))")
            }
            guard let set = StateSet(name: name.text) else {
                throw error("unknown state; expected one of: \(StateSet.validNames.joined(separator: " "))", at: name)
            }
            states = word.text.lowercased() == "state" ? (states ?? []).union(set) : (states ?? .all).subtracting(set)
        }
        guard current != nil else { return .state(states!) }
        if let states, let token = current, ["and", "&&", "&", "or", "||", "|"].contains(token.text.lowercased()) {
            // `state x or ...`: the words are the first operand of the usual left-to-right chain.
            let expression = try parseList(startingWith: .state(states))
            if let extra = current {
                throw error(extra.text == ")" ? "unbalanced ')'" : "unexpected '\(extra.text)'", at: extra)
            }
            return expression
        }
        var expression = try parseList()
        if let states { expression = Self.and(.state(states), expression) }
        if let extra = current {
            throw error(extra.text == ")" ? "unbalanced ')'" : "unexpected '\(extra.text)'", at: extra)
        }
        return expression
    }

    mutating func parseList(startingWith first: FilterExpression? = nil) throws(FilterParseError) -> FilterExpression {
        var left: FilterExpression
        if let first { left = first } else { left = try parseExpression() }
        while let token = current, token.text != ")" {
            switch token.text.lowercased() {
            case "or", "||", "|":
                position += 1
                guard current != nil else { throw error("expected a condition after '\(token.text)'") }
                left = Self.or(left, try parseExpression())
            case "and", "&&", "&":
                position += 1
                guard current != nil else { throw error("expected a condition after '\(token.text)'") }
                left = Self.and(left, try parseExpression())
            default:
                left = Self.and(left, try parseExpression())
            }
        }
        return left
    }

    mutating func parseExpression() throws(FilterParseError) -> FilterExpression {
        guard let token = next() else { throw error("expected a condition") }
        switch token.text.lowercased() {
        case "(":
            guard current != nil, current?.text != ")" else {
                throw error("expected a condition inside '('", at: current ?? token)
            }
            let inner = try parseList()
            guard let close = next(), close.text == ")" else {
                throw error("expected ')' to close this '('", at: token)
            }
            return inner
        case "!", "not":
            return Self.not(try parseExpression())
        case "state", "exclude", "excl":
            guard let name = next() else {
                throw error("expected a state name: \(StateSet.validNames.joined(separator: " "))")
            }
            guard let set = StateSet(name: name.text) else {
                throw error("unknown state; expected one of: \(StateSet.validNames.joined(separator: " "))", at: name)
            }
            return token.text.lowercased() == "state" ? .state(set) : .state(StateSet.all.subtracting(set))
        case "sport", "dport":
            let side: FilterSide = token.text.lowercased() == "sport" ? .source : .destination
            let comparison = parseComparison() ?? .equal
            guard let value = next() else { throw error("expected a port number or service name") }
            if value.text == "*" || value.text == ":*" { return .host(side, HostCondition(address: nil)) }
            guard let port = Self.port(value.text.hasPrefix(":") ? String(value.text.dropFirst()) : value.text) else {
                throw error("expected a port number or service name", at: value)
            }
            return .port(side, comparison, port)
        case "src", "dst":
            let side: FilterSide = token.text.lowercased() == "src" ? .source : .destination
            let comparison = parseComparison()
            if let comparison, comparison != .equal, comparison != .notEqual {
                throw error("'\(token.text)' takes '=' or '!=', not '\(comparison.rawValue)'", at: tokens[position - 1])
            }
            guard let value = next() else {
                throw error("expected an address (1.2.3.4, 10.0.0.0/8, [::1]:80, *:443)")
            }
            let condition = try parseHost(value)
            return comparison == .notEqual ? .not(.host(side, condition)) : .host(side, condition)
        case "dev":
            let comparison = parseComparison()
            if let comparison, comparison != .equal, comparison != .notEqual {
                throw error("'dev' takes '=' or '!=', not '\(comparison.rawValue)'", at: tokens[position - 1])
            }
            guard let value = next(), !value.text.isEmpty, !"()!=<>&|".contains(value.text.first!) else {
                throw error("expected a device name or index", at: current)
            }
            let device: DeviceReference = UInt32(value.text).map { .index($0) } ?? .name(value.text)
            return comparison == .notEqual ? .not(.device(device)) : .device(device)
        case "autobound":
            return .autobound
        case ")":
            throw error("unbalanced ')'", at: token)
        case "and", "or", "&&", "||", "&", "|":
            throw error("expected a condition before '\(token.text)'", at: token)
        default:
            throw error(
                "unknown condition; expected state, exclude, sport, dport, src, dst, dev, autobound, not or '('",
                at: token)
        }
    }

    // State sets fold as they are built, so `state a or state b` and a leading `state a state b` are one
    // set, and `not state a` its complement: the tree prints and parses back the same.
    static func or(_ a: FilterExpression, _ b: FilterExpression) -> FilterExpression {
        if case .state(let x) = a, case .state(let y) = b { return .state(x.union(y)) }
        return .or(a, b)
    }

    static func and(_ a: FilterExpression, _ b: FilterExpression) -> FilterExpression {
        if case .state(let x) = a, case .state(let y) = b { return .state(x.intersection(y)) }
        return .and(a, b)
    }

    static func not(_ a: FilterExpression) -> FilterExpression {
        if case .state(let x) = a { return .state(StateSet.all.subtracting(x)) }
        return .not(a)
    }

    mutating func parseComparison() -> PortComparison? {
        guard let token = current else { return nil }
        let comparison: PortComparison? =
            switch token.text.lowercased() {
            case "=", "==", "eq": .equal
            case "!=", "ne", "neq": .notEqual
            case "<", "lt": .less
            case ">", "gt": .greater
            case "<=", "le": .lessOrEqual
            case ">=", "ge": .greaterOrEqual
            default: nil
            }
        if comparison != nil { position += 1 }
        return comparison
    }

    /// `1.2.3.4`, `10.0.0.0/8`, `1.2.3.4:80`, `10.0.0.0/8:80`, `[::1]`, `[::1]:80`, `[2001:db8::]/32:80`,
    /// `2001:db8::/32`, `::1`, `*`, `*:80`, `:80`.
    func parseHost(_ token: FilterToken) throws(FilterParseError) -> HostCondition {
        var text = Substring(token.text)
        let expected = "expected an address (1.2.3.4, 10.0.0.0/8, [::1]:80, *:443)"
        var addressText: Substring
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw error("missing ']' in the address", at: token) }
            addressText = text[text.index(after: text.startIndex)..<close]
            text = text[text.index(after: close)...]
            if text.hasPrefix("/") {
                let rest = text.dropFirst()
                let digits = rest.prefix(while: { $0.isNumber })
                addressText = addressText + "/" + digits
                text = rest.dropFirst(digits.count)
            }
            if text.hasPrefix(":") {
                portText = text.dropFirst()
            } else if !text.isEmpty {
                throw error(expected, at: token)
            }
        } else if text.filter({ $0 == ":" }).count >= 2 {
            addressText = text  // bare IPv6: no port
        } else if let colon = text.firstIndex(of: ":") {
            addressText = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            addressText = text
        }
        var port: UInt16? = nil
        if let portText, portText != "*" {
            guard let value = Self.port(String(portText)) else {
                throw error("expected a port number or service name after ':'", at: token)
            }
            port = value
        }
        if addressText.isEmpty || addressText == "*" {
            return HostCondition(address: nil, port: port)
        }
        var prefix: UInt8? = nil
        if let slash = addressText.firstIndex(of: "/") {
            let bits = addressText[addressText.index(after: slash)...]
            addressText = addressText[..<slash]
            guard let value = UInt8(bits) else { throw error("expected a prefix length after '/'", at: token) }
            prefix = value
        }
        guard let address = IPAddress(addressText) else { throw error(expected, at: token) }
        let maxBits: UInt8 = address.family == .inet ? 32 : 128
        if let prefix, prefix > maxBits {
            throw error("prefix length \(prefix) is longer than \(maxBits) bits", at: token)
        }
        // Host bits set under the prefix (10.1.2.3/8) are ignored, as the kernel compares only the prefix.
        return HostCondition(address: address, prefixLength: prefix, port: port)
    }

    /// A port number or a service name from /etc/services.
    static func port(_ text: String) -> UInt16? {
        if let number = UInt16(text) { return number }
        return ServiceNames.shared.port(for: text)
    }
}

/// Service names from `/etc/services`, read once from the file (never through NSS, so no network lookups).
final class ServiceNames: Sendable {
    static let shared = ServiceNames()
    private let ports: [String: UInt16]

    init(path: String = "/etc/services") {
        var ports: [String: UInt16] = [:]
        if let text = try? ProcFile.read(path) {
            for line in text.split(separator: "\n") {
                let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count >= 2 else { continue }
                let portProto = words[1].split(separator: "/")
                guard portProto.count == 2, let port = UInt16(portProto[0]) else { continue }
                for name in [words[0]] + words.dropFirst(2) where ports[String(name)] == nil {
                    ports[String(name)] = port
                }
            }
        }
        self.ports = ports
    }

    func port(for name: String) -> UInt16? { ports[name] }
}
