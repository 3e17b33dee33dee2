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

    /// Characters of `source` shown before the offending token, and of the token itself; a longer source
    /// is shown as a window around the caret, cut with `…`.
    static let contextShown = 40

    /// The message, the expression (a window of it around the offending token when it is long) and a
    /// caret line under the offending token. Control characters show escaped, as in tables.
    public var description: String {
        let characters = Array(source)
        let start = min(max(offset, 0), characters.count)
        let end = min(start + max(length, 1), characters.count)
        let shownEnd = min(end, start + Self.contextShown)
        let from = max(0, start - Self.contextShown)
        let to = min(characters.count, shownEnd + Self.contextShown / 2)
        func escaped(_ range: Range<Int>) -> String { VisibleText.escaped(String(characters[range])) }
        let before = (from > 0 ? "…" : "") + escaped(from..<start)
        let token = escaped(start..<shownEnd)
        let after = escaped(shownEnd..<to) + (to < characters.count ? "…" : "")
        let caret = String(repeating: " ", count: before.count) + String(repeating: "^", count: max(token.count, 1))
        return "bad filter: \(message)\n  \(before)\(token)\(after)\n  \(caret)"
    }
}

/// A parsed `ss`-style filter: the expression and the text it came from.
///
/// The language (as `ss` reads it): `state NAME`, `exclude NAME`; `sport`/`dport` with `= == != < > <= >=`
/// (or `eq neq ne lt gt le ge`) and `:PORT` or a service name; `src`/`dst` with an IPv4/IPv6 address, a
/// CIDR prefix, an optional `:PORT`, or `*`; `dev NAME|INDEX`; `autobound`; `and`/`&&`/`&`, `or`/`||`/`|`,
/// `not`/`!`, parentheses. Two conditions side by side mean `and`. As in `ss`, `and` and `or` bind
/// equally and group from the left: `a or b and c` is `(a or b) and c`.
///
/// Also as `ss` reads them: numbers in C's notation (`:0x1b59`, `:015531`), IPv4 addresses as iproute2
/// reads them (`127.1` is `127.1.0.0`; `0x7f.0.0.1`), `any`/`all`/`default` for every address, an `inet:` or
/// `inet6:` prefix on an address, and host names, looked up once (``HostResolver``) and tested as an `or`
/// of all their addresses.
///
/// A run of one operator (`a or b or c …`) is kept as a balanced tree, so the tree of a long flat list
/// is about log2(n) deep; nesting (parentheses, `not`, each switch between `and` and `or`) is limited
/// to ``maximumDepth`` levels.
public struct Filter: Hashable, Sendable, CustomStringConvertible {
    /// The expression.
    public var expression: FilterExpression

    /// How deep a parsed expression may nest: parentheses, `not`, and each switch between `and` and `or`
    /// add a level. Deeper input is a ``FilterParseError``.
    ///
    /// Evaluation, compilation, comparison and device resolution recurse once per level of the tree (a
    /// run of one operator is balanced, so its levels grow as log2 of its length); at this depth each fits
    /// a 512 KiB thread stack even in a debug build. Hand-written filters nest a few levels; `ss` (bison's
    /// stack) stops at about 10,000, a depth no useful kernel program has.
    public static let maximumDepth = 256

    /// Wraps an expression built in code.
    ///
    /// The walks of an expression recurse once per level: keep one built in code within ``maximumDepth``.
    public init(_ expression: FilterExpression) {
        self.expression = expression
    }

    /// Parses an expression given as several arguments, the way `ss` takes it (`dport = :443 and state established`).
    ///
    /// - Parameters:
    ///   - arguments: the words, joined by spaces.
    ///   - hosts: how host names in `src`/`dst` become addresses (`getaddrinfo` by default).
    /// - Throws: ``FilterParseError`` pointing at the offending token.
    public init(parsing arguments: [String], hosts: HostResolver = .system) throws(FilterParseError) {
        try self.init(parsing: arguments.joined(separator: " "), hosts: hosts)
    }

    /// Parses an expression.
    ///
    /// - Parameters:
    ///   - text: the expression.
    ///   - hosts: how host names in `src`/`dst` become addresses (`getaddrinfo` by default).
    /// - Throws: ``FilterParseError`` pointing at the offending token.
    public init(parsing text: String, hosts: HostResolver = .system) throws(FilterParseError) {
        var parser = FilterParser(text, hosts: hosts)
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

/// A parser for the `ss` grammar: `list := expr ((and|or)? expr)*`, `expr := ( list ) | not expr | condition`.
///
/// Linear in the input and free of recursion: the tokens are read once, parentheses and `not` go on a stack
/// of ``Frame``s, and each run of one operator is folded into a balanced tree once. The tree it builds is
/// at most ``Filter/maximumDepth`` deep, for the walks that recurse over it.
struct FilterParser {
    /// An expression with the depth of its tree (a condition is 1).
    typealias Node = (expression: FilterExpression, depth: Int)

    let source: String
    let tokens: [FilterToken]
    let hosts: HostResolver
    var position = 0
    /// Open `(` and pending `not` around the token being read.
    var nesting = 0

    init(_ source: String, hosts: HostResolver = .none) {
        self.source = source
        self.hosts = hosts
        tokens = Self.tokenize(source)
    }

    /// Splits on blanks and around `( ) ! = < > & |` (so `dport>=:80` and `(a)` work without spaces); offsets
    /// count characters, as the caret under an error does.
    ///
    /// Walks the string's own indices and tests characters with `switch`: a `Set<Character>` and words made
    /// from `[Character]` cost half a million instructions at start-up (their generic types are instantiated
    /// on first use), more than the rest of parsing a filter.
    static func tokenize(_ text: String) -> [FilterToken] {
        var tokens: [FilterToken] = []
        var index = text.startIndex
        var offset = 0
        while index < text.endIndex {
            let c = text[index]
            let next = text.index(after: index)
            if isBlank(c) {
                index = next
                offset += 1
            } else if isOperator(c) {
                let end = next < text.endIndex && isOperatorPair(c, text[next]) ? text.index(after: next) : next
                let token = String(text[index..<end])
                tokens.append(FilterToken(text: token, offset: offset))
                offset += end == next ? 1 : 2
                index = end
            } else {
                let start = index
                let startOffset = offset
                while index < text.endIndex, !isOperator(text[index]), !isBlank(text[index]) {
                    text.formIndex(after: &index)
                    offset += 1
                }
                tokens.append(FilterToken(text: String(text[start..<index]), offset: startOffset))
            }
        }
        return tokens
    }

    private static func isBlank(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" }

    private static func isOperator(_ c: Character) -> Bool {
        switch c {
        case "(", ")", "!", "=", "<", ">", "&", "|": true
        default: false
        }
    }

    /// `!=`, `<=`, `>=`, `==`, `&&`, `||`: the operators of two characters.
    private static func isOperatorPair(_ first: Character, _ second: Character) -> Bool {
        switch (first, second) {
        case ("!", "="), ("<", "="), (">", "="), ("=", "="), ("&", "&"), ("|", "|"): true
        default: false
        }
    }

    func error(_ message: String, at token: FilterToken? = nil) -> FilterParseError {
        if let token {
            return FilterParseError(source: source, offset: token.offset, length: token.text.count, message: message)
        }
        return FilterParseError(source: source, offset: source.count, length: 1, message: message)
    }

    /// A token quoted for a message, cut when long.
    static func quoted(_ token: FilterToken) -> String {
        let limit = FilterParseError.contextShown
        return "'" + (token.text.count > limit ? token.text.prefix(limit) + "…" : token.text) + "'"
    }

    func tooDeep(at token: FilterToken?) -> FilterParseError {
        error(
            "the filter nests deeper than \(Filter.maximumDepth) levels (each '(', 'not', and switch between 'and' and 'or' adds one)",
            at: token)
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
            let set = try parseStateName()
            states = word.text.lowercased() == "state" ? (states ?? []).union(set) : (states ?? .all).subtracting(set)
        }
        guard current != nil else { return .state(states!) }
        let node: Node
        if let states, let token = current, ["and", "&&", "&", "or", "||", "|"].contains(token.text.lowercased()) {
            // `state x or ...`: the words are the first operand of the usual left-to-right chain.
            node = try parseList(startingWith: (.state(states), 1))
        } else if let states {
            node = try combine([(.state(states), 1), try parseList()], or: false, at: current)
        } else {
            node = try parseList()
        }
        if let extra = current {
            throw error(extra.text == ")" ? "unbalanced ')'" : "unexpected \(Self.quoted(extra))", at: extra)
        }
        return node.expression
    }

    /// One open `(` (or the whole input): the run of operands being built, its operator, the operator read
    /// before the next operand, and the `not`s waiting for it.
    struct Frame {
        var open: FilterToken?
        var run: [Node] = []
        var runIsOr = false
        var nextOperator: (isOr: Bool, token: FilterToken)? = nil
        var nots = 0
        var firstNot: FilterToken? = nil
    }

    /// Reads operands up to an unmatched `)` or the end, with parentheses and `not` on a stack of its own
    /// (no recursion, so no input can exhaust the thread's stack). Each run of one operator becomes a
    /// balanced tree; when the operator changes, the run so far is the first operand of the next
    /// (`and`/`or` bind equally, from the left). Two operands side by side mean `and`.
    mutating func parseList(startingWith first: Node? = nil) throws(FilterParseError) -> Node {
        var frames = [Frame()]
        var operand = first
        while true {
            if var node = operand {
                operand = nil
                var frame = frames.removeLast()
                for _ in 0..<frame.nots {
                    let e = Self.not(node.expression)
                    if case .state = e { node = (e, 1) } else { node = (e, node.depth + 1) }
                }
                nesting -= frame.nots
                if node.depth > Filter.maximumDepth { throw tooDeep(at: frame.firstNot) }
                frame.nots = 0
                frame.firstNot = nil
                let isOr = frame.nextOperator?.isOr ?? false
                if frame.run.count > 1 && isOr != frame.runIsOr {
                    frame.run = [try combine(frame.run, or: frame.runIsOr, at: frame.nextOperator?.token)]
                }
                if !frame.run.isEmpty { frame.runIsOr = isOr }
                frame.run.append(node)
                frame.nextOperator = nil
                // After an operand: the end, a `)`, an operator, or (side by side) the next operand.
                guard let token = current else {
                    if let open = frame.open { throw error("expected ')' to close this '('", at: open) }
                    return try combine(frame.run, or: frame.runIsOr, at: nil)
                }
                if token.text == ")" {
                    // The caller reports a `)` with no `(`.
                    guard frame.open != nil else { return try combine(frame.run, or: frame.runIsOr, at: token) }
                    position += 1
                    nesting -= 1
                    operand = try combine(frame.run, or: frame.runIsOr, at: token)
                    continue
                }
                switch token.text.lowercased() {
                case "or", "||", "|", "and", "&&", "&":
                    position += 1
                    guard current != nil else { throw error("expected a condition after \(Self.quoted(token))") }
                    frame.nextOperator = (["or", "||", "|"].contains(token.text.lowercased()), token)
                default:
                    break
                }
                frames.append(frame)
            }
            // An operand: `(`, `not`, or a condition.
            guard let token = next() else { throw error("expected a condition") }
            switch token.text.lowercased() {
            case "(":
                nesting += 1
                guard nesting <= Filter.maximumDepth else { throw tooDeep(at: token) }
                guard current != nil, current?.text != ")" else {
                    throw error("expected a condition inside '('", at: current ?? token)
                }
                frames.append(Frame(open: token))
            case "!", "not":
                nesting += 1
                guard nesting <= Filter.maximumDepth else { throw tooDeep(at: token) }
                frames[frames.count - 1].nots += 1
                if frames[frames.count - 1].firstNot == nil { frames[frames.count - 1].firstNot = token }
            default:
                operand = try parseCondition(token)
            }
        }
    }

    /// The operands of a run as a balanced tree, its depth checked against the limit.
    func combine(_ run: [Node], or: Bool, at token: FilterToken?) throws(FilterParseError) -> Node {
        let node = balanced(run[...]) { a, b in
            let e = or ? Self.or(a.expression, b.expression) : Self.and(a.expression, b.expression)
            if case .state = e { return (e, 1) }
            return (e, 1 + max(a.depth, b.depth))
        }
        guard node.depth <= Filter.maximumDepth else { throw tooDeep(at: token) }
        return node
    }

    /// A condition (not `(` or `not`) starting at `token`.
    mutating func parseCondition(_ token: FilterToken) throws(FilterParseError) -> Node {
        switch token.text.lowercased() {
        case "state", "exclude", "excl":
            let set = try parseStateName()
            return (token.text.lowercased() == "state" ? .state(set) : .state(StateSet.all.subtracting(set)), 1)
        case "sport", "dport":
            let side: FilterSide = token.text.lowercased() == "sport" ? .source : .destination
            let comparison = parseComparison()
            guard let value = next() else { throw error("expected a port number or service name") }
            if value.text == "*" || value.text == ":*" {
                if let comparison, comparison != .equal {
                    throw error(
                        "'*' (any port) takes '=' or no operator, not '\(comparison.rawValue)'; compare with a port number",
                        at: value)
                }
                return (.host(side, HostCondition(address: nil)), 1)
            }
            let port = try parsePort(value.text.hasPrefix(":") ? value.text.dropFirst() : value.text[...], at: value)
            return (.port(side, comparison ?? .equal, port), 1)
        case "src", "dst":
            let side: FilterSide = token.text.lowercased() == "src" ? .source : .destination
            let comparison = parseComparison()
            if let comparison, comparison != .equal, comparison != .notEqual {
                throw error("'\(token.text)' takes '=' or '!=', not '\(comparison.rawValue)'", at: tokens[position - 1])
            }
            guard let value = next() else {
                throw error("expected an address (1.2.3.4, 10.0.0.0/8, [::1]:80, *:443)")
            }
            let conditions = try parseHost(value)
            let leaves: [Node] = conditions.map { (.host(side, $0), 1) }
            let node = balanced(leaves[...]) { (a: Node, b: Node) -> Node in
                (.or(a.expression, b.expression), 1 + max(a.depth, b.depth))
            }
            return comparison == .notEqual ? (.not(node.expression), node.depth + 1) : node
        case "dev":
            let comparison = parseComparison()
            if let comparison, comparison != .equal, comparison != .notEqual {
                throw error("'dev' takes '=' or '!=', not '\(comparison.rawValue)'", at: tokens[position - 1])
            }
            guard let value = next(), !value.text.isEmpty, !"()!=<>&|".contains(value.text.first!) else {
                throw error("expected a device name or index", at: current)
            }
            let device: DeviceReference = UInt32(value.text).map { .index($0) } ?? .name(value.text)
            return comparison == .notEqual ? (.not(.device(device)), 2) : (.device(device), 1)
        case "autobound":
            return (.autobound, 1)
        case ")":
            throw error("unbalanced ')'", at: token)
        case "and", "or", "&&", "||", "&", "|":
            throw error("expected a condition before \(Self.quoted(token))", at: token)
        default:
            throw error(
                "unknown condition; expected state, exclude, sport, dport, src, dst, dev, autobound, not or '('",
                at: token)
        }
    }

    /// The state name after `state`/`exclude`: a state, a group, or one of ss's other spellings.
    mutating func parseStateName() throws(FilterParseError) -> StateSet {
        guard let name = next() else {
            throw error("expected a state name: \(StateSet.validNames.joined(separator: " "))")
        }
        guard let set = StateSet(name: name.text) else {
            throw error("unknown state; expected one of: \(StateSet.validNames.joined(separator: " "))", at: name)
        }
        return set
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
            case "<=", "le", "leq": .lessOrEqual
            case ">=", "ge", "geq": .greaterOrEqual
            default: nil
            }
        if comparison != nil { position += 1 }
        return comparison
    }

    /// A port: a number as C reads it (`443`, `0x1bb`, `0673`) up to 65535, or a service name from
    /// `/etc/services`.
    func parsePort(_ text: Substring, at token: FilterToken) throws(FilterParseError) -> UInt16 {
        if let first = text.first, first.isNumber {
            guard let number = CNumber.parse(text) else {
                throw error(
                    "expected a port number or service name\(token.text.contains(":") ? " after ':'" : "")", at: token)
            }
            guard number <= UInt64(UInt16.max) else {
                throw error("port \(text.prefix(20)) is out of range: ports go from 0 to 65535", at: token)
            }
            return UInt16(number)
        }
        guard let port = ServiceNames.shared.port(for: String(text)) else {
            throw error(
                "expected a port number or service name\(token.text.contains(":") ? " after ':'" : "")", at: token)
        }
        return port
    }

    /// `1.2.3.4`, `10.0.0.0/8`, `1.2.3.4:80`, `10.0.0.0/8:80`, `[::1]`, `[::1]:80`, `[2001:db8::]/32:80`,
    /// `2001:db8::/32`, `::1`, `*`, `*:80`, `:80`, `any`, `inet:…`, `inet6:…`, `HOSTNAME[:PORT]`: one
    /// condition, or one per address of a host name.
    func parseHost(_ token: FilterToken) throws(FilterParseError) -> [HostCondition] {
        var text = Substring(token.text)
        let expected = "expected an address (1.2.3.4, 10.0.0.0/8, [::1]:80, *:443) or a host name"
        // ss's family prefixes; the other families it knows are not TCP or UDP.
        var family: AddressFamily? = nil
        if text.hasPrefix("inet:") {
            family = .inet
            text = text.dropFirst(5)
        } else if text.hasPrefix("inet6:") {
            family = .inet6
            text = text.dropFirst(6)
        } else if let colon = text.firstIndex(of: ":"),
            ["unix", "link", "netlink", "vsock"].contains(text[..<colon])
        {
            throw error(
                "sockscan reads TCP and UDP sockets only; '\(text[..<colon]):' addresses are not among them", at: token)
        }
        var addressText: Substring
        var portText: Substring? = nil
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw error("missing ']' in the address", at: token) }
            addressText = text[text.index(after: text.startIndex)..<close]
            text = text[text.index(after: close)...]
            if text.hasPrefix("/") {
                let rest = text.dropFirst()
                let digits = rest.prefix(while: { $0 != ":" })
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
        if let portText, !portText.isEmpty, portText != "*" {
            port = try parsePort(portText, at: token)
        }
        var prefix: UInt8? = nil
        var prefixText: Substring? = nil
        if let slash = addressText.firstIndex(of: "/") {
            prefixText = addressText[addressText.index(after: slash)...]
            addressText = addressText[..<slash]
        }
        if addressText.isEmpty || ["*", "any", "all", "default"].contains(addressText) {
            guard prefixText == nil else {
                throw error("a prefix length needs an address, not '\(addressText)'", at: token)
            }
            switch family {
            case .none: return [HostCondition(address: nil, port: port)]
            case .inet: return [HostCondition(address: .v4(.any), prefixLength: 0, port: port)]
            case .inet6: return [HostCondition(address: .v6(.any), prefixLength: 0, port: port)]
            }
        }
        var addresses: [IPAddress]
        if addressText.contains(":") {
            guard let v6 = IPv6Address(addressText) else { throw error(expected, at: token) }
            addresses = [.v6(v6)]
        } else if let v4 = IPv4Address(iproute2: addressText) {
            addresses = [.v4(v4)]
        } else if addressText.allSatisfy({ $0 == "." || $0.isASCII && $0.isNumber }) {
            // Digits and dots that iproute2 does not read go, in ss, to gethostbyname2, which reads them as
            // inet_aton does (2130706433); nothing is looked up.
            guard let v4 = IPv4Address(inetAton: addressText) else { throw error(expected, at: token) }
            addresses = [.v4(v4)]
        } else if Self.isHostName(addressText) {
            guard prefixText == nil else {
                throw error("a prefix length needs an address, not the host name '\(addressText)'", at: token)
            }
            switch hosts.addresses(of: String(addressText)) {
            case .success(let found): addresses = found
            case .failure(let failure):
                throw error(
                    "cannot resolve \(Self.quoted(FilterToken(text: String(addressText), offset: 0))): \(failure)",
                    at: token)
            }
            if let family {
                addresses = addresses.filter { $0.family == family }
                guard !addresses.isEmpty else {
                    throw error("'\(addressText)' has no \(family == .inet ? "IPv4" : "IPv6") address", at: token)
                }
            }
        } else {
            throw error(expected, at: token)
        }
        if let family, addresses.contains(where: { $0.family != family }) {
            throw error(
                "'\(family == .inet ? "inet:" : "inet6:")' takes an \(family == .inet ? "IPv4" : "IPv6") address",
                at: token)
        }
        if let prefixText {
            let maxBits: UInt8 = addresses[0].family == .inet ? 32 : 128
            if let bits = CNumber.parse(prefixText) {
                guard bits <= UInt64(maxBits) else {
                    throw error("prefix length \(prefixText.prefix(20)) is longer than \(maxBits) bits", at: token)
                }
                prefix = UInt8(bits)
            } else if maxBits == 32, let mask = IPv4Address(iproute2: prefixText),
                mask.value == 0 || (~mask.value &+ 1) & ~mask.value == 0
            {
                // A dotted netmask (255.255.0.0), as ip and ss take it: its ones must be contiguous.
                prefix = UInt8(mask.value.nonzeroBitCount)
            } else {
                throw error("expected a prefix length after '/'", at: token)
            }
        }
        // Host bits set under the prefix (10.1.2.3/8) are ignored, as the kernel compares only the prefix.
        return addresses.map { HostCondition(address: $0, prefixLength: prefix, port: port) }
    }

    /// Whether `text` can be a host name (letters, digits, `-` and `_` in dot-separated labels of at most 63
    /// characters, at least one letter): only such text is looked up.
    static func isHostName(_ text: Substring) -> Bool {
        let name = text.hasSuffix(".") ? text.dropLast() : text
        guard !name.isEmpty, name.utf8.count <= 253, name.contains(where: { $0.isLetter }) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }
}

/// `items` combined as a balanced binary tree, in order: `((a b) (c d))` rather than `(((a b) c) d)`, so a run
/// of n operands is log2(n) deep. For an associative `combine` (`and`, `or`) the value is the same.
func balanced<T>(_ items: ArraySlice<T>, _ combine: (T, T) -> T) -> T {
    if items.count == 1 { return items.first! }
    let middle = items.startIndex + (items.count + 1) / 2
    return combine(balanced(items[..<middle], combine), balanced(items[middle...], combine))
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
