/// Which end of a socket a condition looks at.
public enum FilterSide: String, Hashable, Sendable {
    /// The local end (`sport`, `src`).
    case source
    /// The remote end (`dport`, `dst`).
    case destination
}

/// A port comparison, as `ss` spells them (`=`, `!=`, `<`, `>`, `<=`, `>=`).
public enum PortComparison: String, Hashable, Sendable, CaseIterable {
    case equal = "="
    case notEqual = "!="
    case less = "<"
    case greater = ">"
    case lessOrEqual = "<="
    case greaterOrEqual = ">="

    func holds(_ value: UInt16, _ bound: UInt16) -> Bool {
        switch self {
        case .equal: value == bound
        case .notEqual: value != bound
        case .less: value < bound
        case .greater: value > bound
        case .lessOrEqual: value <= bound
        case .greaterOrEqual: value >= bound
        }
    }
}

/// An address condition: an address prefix (or any address) and an optional port, as in `dst 10.0.0.0/8:443`.
public struct HostCondition: Hashable, Sendable, CustomStringConvertible {
    /// The address, `nil` for any (`*`).
    public var address: IPAddress?
    /// The prefix length in bits (32 or 128 for a single address).
    public var prefixLength: UInt8
    /// The port, `nil` for any.
    public var port: UInt16?

    /// A condition on `address` (`nil` for any) with a `prefixLength` (the whole address when `nil`, clamped to
    /// the family's width) and an optional `port`.
    public init(address: IPAddress?, prefixLength: UInt8? = nil, port: UInt16? = nil) {
        self.address = address
        switch address {
        case .none: self.prefixLength = 0
        case .v4: self.prefixLength = min(prefixLength ?? 32, 32)
        case .v6: self.prefixLength = min(prefixLength ?? 128, 128)
        }
        self.port = port
    }

    /// Whether an endpoint of a socket of `family` matches, as the kernel's `S_COND`/`D_COND` decides:
    /// an IPv4 condition also matches an IPv4-mapped IPv6 address.
    public func matches(_ endpoint: Endpoint) -> Bool {
        if let port, endpoint.port != port { return false }
        guard let address else { return true }
        switch (address, endpoint.address) {
        case (.v4(let want), .v4(let have)):
            return Self.prefixMatches(UInt64(want.value) << 32, 0, UInt64(have.value) << 32, 0, prefixLength)
        case (.v4(let want), .v6(let have)):
            guard let mapped = have.mappedIPv4 else { return false }
            return Self.prefixMatches(UInt64(want.value) << 32, 0, UInt64(mapped.value) << 32, 0, prefixLength)
        case (.v6(let want), .v6(let have)):
            return Self.prefixMatches(want.high, want.low, have.high, have.low, prefixLength)
        case (.v6, .v4):
            return false
        }
    }

    private static func prefixMatches(_ wh: UInt64, _ wl: UInt64, _ hh: UInt64, _ hl: UInt64, _ bits: UInt8) -> Bool {
        if bits == 0 { return true }
        if bits <= 64 {
            let mask: UInt64 = bits == 64 ? .max : ~(UInt64.max >> UInt64(bits))
            return wh & mask == hh & mask
        }
        let low = bits - 64
        let mask: UInt64 = low == 64 ? .max : ~(UInt64.max >> UInt64(low))
        return wh == hh && wl & mask == hl & mask
    }

    /// `ss` form: `10.0.0.0/8:443`, `[::1]:80`, `*:80`, `*`.
    public var description: String {
        var text: String
        switch address {
        case .none: text = "*"
        case .v4(let a): text = a.description + (prefixLength == 32 ? "" : "/\(prefixLength)")
        case .v6(let a): text = "[\(a)]" + (prefixLength == 128 ? "" : "/\(prefixLength)")
        }
        if let port { text += ":\(port)" }
        return text
    }
}

/// A network device in a `dev` condition.
public enum DeviceReference: Hashable, Sendable, CustomStringConvertible {
    case name(String)
    case index(UInt32)

    public var description: String {
        switch self {
        case .name(let name): name
        case .index(let index): String(index)
        }
    }
}

/// A socket filter expression in the `ss` filter language.
public indirect enum FilterExpression: Hashable, Sendable, CustomStringConvertible {
    /// The socket's state is in the set (`state NAME`).
    case state(StateSet)
    /// A port comparison (`sport >= :1024`).
    case port(FilterSide, PortComparison, UInt16)
    /// An address prefix and/or port (`src 10.0.0.0/8`, `dst [::1]:443`).
    case host(FilterSide, HostCondition)
    /// Bound to a device (`dev eth0`).
    case device(DeviceReference)
    /// The local port was chosen by the kernel (`autobound`); the kernel alone can tell.
    case autobound
    case and(FilterExpression, FilterExpression)
    case or(FilterExpression, FilterExpression)
    case not(FilterExpression)

    /// `sport OP port`.
    public static func sport(_ comparison: PortComparison, _ port: UInt16) -> Self { .port(.source, comparison, port) }
    /// `dport OP port`.
    public static func dport(_ comparison: PortComparison, _ port: UInt16) -> Self {
        .port(.destination, comparison, port)
    }
    /// `src ADDRESS[/PREFIX][:PORT]`.
    public static func src(_ address: IPAddress?, prefix: UInt8? = nil, port: UInt16? = nil) -> Self {
        .host(.source, HostCondition(address: address, prefixLength: prefix, port: port))
    }
    /// `dst ADDRESS[/PREFIX][:PORT]`.
    public static func dst(_ address: IPAddress?, prefix: UInt8? = nil, port: UInt16? = nil) -> Self {
        .host(.destination, HostCondition(address: address, prefixLength: prefix, port: port))
    }

    /// Both hold (`and`).
    public static func && (lhs: Self, rhs: Self) -> Self { .and(lhs, rhs) }
    /// Either holds (`or`).
    public static func || (lhs: Self, rhs: Self) -> Self { .or(lhs, rhs) }
    /// It does not hold (`not`).
    public static prefix func ! (operand: Self) -> Self { .not(operand) }

    /// The number of levels of the tree: 1 for a single condition, one more for each `and`, `or` and `not`
    /// above it on the longest path.
    ///
    /// Counted without recursion, so it can tell how deep an expression built in code is before any
    /// recursive walk meets it.
    public var depth: Int {
        var deepest = 0
        var pending: [(FilterExpression, Int)] = [(self, 1)]
        while let (expression, level) = pending.popLast() {
            deepest = max(deepest, level)
            switch expression {
            case .and(let a, let b), .or(let a, let b):
                pending.append((a, level + 1))
                pending.append((b, level + 1))
            case .not(let a): pending.append((a, level + 1))
            default: break
            }
        }
        return deepest
    }

    /// Whether a `state` condition occurs anywhere in the expression.
    public var mentionsState: Bool {
        switch self {
        case .state: true
        case .and(let a, let b), .or(let a, let b): a.mentionsState || b.mentionsState
        case .not(let a): a.mentionsState
        default: false
        }
    }

    /// Whether a `dev` condition occurs anywhere in the expression.
    public var mentionsDevice: Bool {
        switch self {
        case .device: true
        case .and(let a, let b), .or(let a, let b): a.mentionsDevice || b.mentionsDevice
        case .not(let a): a.mentionsDevice
        default: false
        }
    }

    /// Whether the expression holds nothing but `state` conditions.
    var onlyStates: Bool {
        switch self {
        case .state: true
        case .and(let a, let b), .or(let a, let b): a.onlyStates && b.onlyStates
        case .not(let a): a.onlyStates
        default: false
        }
    }

    /// Whether user space can evaluate it (`autobound` needs the kernel's socket lock flags).
    public var evaluableInUserSpace: Bool {
        switch self {
        case .autobound: false
        case .and(let a, let b), .or(let a, let b): a.evaluableInUserSpace && b.evaluableInUserSpace
        case .not(let a): a.evaluableInUserSpace
        default: true
        }
    }

    /// The states a matching socket can be in (exact for state-only expressions, a superset otherwise).
    var possibleStates: StateSet {
        switch self {
        case .state(let set): set
        case .and(let a, let b): a.possibleStates.intersection(b.possibleStates)
        case .or(let a, let b): a.possibleStates.union(b.possibleStates)
        case .not(let a): a.onlyStates ? StateSet.all.subtracting(a.possibleStates) : .all
        default: .all
        }
    }

    /// Evaluates the expression on a record in user space, as the kernel would.
    ///
    /// `dev NAME` must have been resolved to an index (``resolvingDevices(_:exists:)``); an unresolved name and
    /// `autobound` (which records do not carry) evaluate to false.
    public func matches(_ r: SocketRecord) -> Bool {
        switch self {
        case .state(let set): set.contains(r.state)
        case .port(let side, let comparison, let port):
            comparison.holds(side == .source ? r.local.port : r.remote.port, port)
        case .host(let side, let condition): condition.matches(side == .source ? r.local : r.remote)
        case .device(.index(let index)): r.interfaceIndex == index
        case .device(.name): false
        case .autobound: false
        case .and(let a, let b): a.matches(r) && b.matches(r)
        case .or(let a, let b): a.matches(r) || b.matches(r)
        case .not(let a): !a.matches(r)
        }
    }

    /// The expression with every `dev NAME` replaced by its index, and every `dev INDEX` checked.
    ///
    /// - Parameters:
    ///   - resolve: the index of a device name, nil when there is no such device.
    ///   - exists: whether a device has this index (by default every index is taken as given).
    /// - Throws: ``FilterCompileError/unknownDevice(_:)`` for a name `resolve` does not know, or an index
    ///   that `exists` denies.
    public func resolvingDevices(
        _ resolve: (String) -> UInt32?, exists: (UInt32) -> Bool = { _ in true }
    ) throws(FilterCompileError) -> FilterExpression {
        switch self {
        case .device(.name(let name)):
            guard let index = resolve(name) else { throw .unknownDevice(name) }
            return .device(.index(index))
        case .device(.index(let index)):
            guard exists(index) else { throw .unknownDevice(String(index)) }
            return self
        case .and(let a, let b):
            return .and(
                try a.resolvingDevices(resolve, exists: exists), try b.resolvingDevices(resolve, exists: exists))
        case .or(let a, let b):
            return .or(try a.resolvingDevices(resolve, exists: exists), try b.resolvingDevices(resolve, exists: exists))
        case .not(let a): return .not(try a.resolvingDevices(resolve, exists: exists))
        default: return self
        }
    }

    /// The expression fully parenthesised, in the filter language (it parses back to the same expression).
    ///
    /// Written without recursion, in time linear in its length.
    public var description: String {
        enum Part {
            case text(String)
            case node(FilterExpression)
        }
        var text = ""
        var pending: [Part] = [.node(self)]
        while let part = pending.popLast() {
            switch part {
            case .text(let piece): text += piece
            case .node(.and(let a, let b)): pending += [.text(")"), .node(b), .text(" and "), .node(a), .text("(")]
            case .node(.or(let a, let b)): pending += [.text(")"), .node(b), .text(" or "), .node(a), .text("(")]
            case .node(.not(let a)): pending += [.node(a), .text("not ")]
            case .node(let condition): text += condition.conditionDescription
            }
        }
        return text
    }

    /// A single condition in the filter language.
    private var conditionDescription: String {
        switch self {
        case .state(let set):
            if let name = StateSet.groupName(of: set) { return "state \(name)" }
            func anyOf(_ states: [TCPState]) -> String {
                states.count == 1
                    ? "state \(states[0].name)"
                    : "(" + states.map { "state \($0.name)" }.joined(separator: " or ") + ")"
            }
            // Bit 0 of the mask is no state, but `all` holds it, and so does every set made from `all` by
            // `exclude` or `not`: print such a set as the complement it is, so that it parses back the same.
            guard set.contains(StateSet(rawValue: 1)) else {
                if set.states.isEmpty { return "(state established and not state established)" }
                return anyOf(set.states)
            }
            let complement = StateSet.all.subtracting(set)
            if let name = StateSet.groupName(of: complement) { return "not state \(name)" }
            return "not " + anyOf(complement.states)
        case .port(let side, let comparison, let port):
            return "\(side == .source ? "sport" : "dport") \(comparison.rawValue) :\(port)"
        case .host(let side, let condition):
            return "\(side == .source ? "src" : "dst") \(condition)"
        case .device(let device): return "dev \(device)"
        case .autobound: return "autobound"
        case .and, .or, .not: return ""  // not conditions: `description` takes them apart
        }
    }
}

extension StateSet {
    /// The `ss` group name of exactly this set, if it is one.
    static func groupName(of set: StateSet) -> String? {
        switch set {
        case .all: "all"
        case .connected: "connected"
        case .synchronized: "synchronized"
        case .bucket: "bucket"
        case .big: "big"
        default: nil
        }
    }
}

/// Why a filter could not be turned into a kernel program.
public enum FilterCompileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `dev NAME` (or `dev INDEX`, the index in decimal) names no interface of the scanned namespace.
    case unknownDevice(String)
    /// `autobound` sits where only user space could evaluate it (under `or`/`not` with a `state`).
    case autoboundInUserSpace
    /// The bytecode program, of this many bytes, would exceed ``KernelProgram/maximumBytecodeLength``.
    case programTooLong(Int)

    public var description: String {
        switch self {
        case .unknownDevice(let name):
            if UInt32(name) != nil {
                "no network device with index \(name) in the scanned namespace (ip link lists them)"
            } else {
                "no network device named '\(name)' in the scanned namespace"
            }
        case .autoboundInUserSpace:
            "'autobound' cannot be combined with 'state' under 'or'/'not': only the kernel can test it; move the state condition to the top level"
        case .programTooLong(let n):
            "the filter compiles to \(n) bytes of kernel bytecode, more than the \(KernelProgram.maximumBytecodeLength) a request carries (a netlink attribute's length is 16 bits); use fewer conditions, or ranges (dport >= :A and dport <= :B) for runs of ports"
        }
    }
}
