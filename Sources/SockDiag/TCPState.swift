/// A TCP state as the kernel numbers it (`include/net/tcp_states.h`), named as `ss` names it.
public struct TCPState: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The kernel's number (`TCP_ESTABLISHED` is 1, …, `TCP_CLOSING` 11).
    public var rawValue: UInt8
    /// The state the kernel numbers `rawValue` (any number: the kernel has private states above 11).
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Connected (`TCP_ESTABLISHED`); for UDP, a connected socket.
    public static let established = TCPState(rawValue: 1)
    /// `connect()` sent a SYN and waits for the answer.
    public static let synSent = TCPState(rawValue: 2)
    /// A SYN arrived and was answered; the handshake is not complete.
    public static let synRecv = TCPState(rawValue: 3)
    /// This side closed first and sent its FIN.
    public static let finWait1 = TCPState(rawValue: 4)
    /// This side's FIN was acknowledged; waiting for the peer's.
    public static let finWait2 = TCPState(rawValue: 5)
    /// Both sides closed, this side first: the local port stays taken for 60 s.
    public static let timeWait = TCPState(rawValue: 6)
    /// Closed; for UDP, an unconnected socket (`ss` prints `UNCONN`).
    public static let close = TCPState(rawValue: 7)
    /// The peer closed; this side has not yet (a pile of these is an application that forgets to close).
    public static let closeWait = TCPState(rawValue: 8)
    /// The peer closed first, this side then closed; waiting for the last acknowledgement.
    public static let lastAck = TCPState(rawValue: 9)
    /// Accepting connections.
    public static let listen = TCPState(rawValue: 10)
    /// Both sides closed at the same time.
    public static let closing = TCPState(rawValue: 11)

    /// The eleven states `ss` names, in kernel order.
    public static let allCases: [TCPState] = (1...11).map { TCPState(rawValue: $0) }

    private static let filterNames: [StaticString] = (0...11).map { TCPState(rawValue: $0).staticName! }

    /// Looks a state up by its `ss` filter name (`time-wait`, `established`, …).
    /// `ss`'s own spellings `closed`, `unconnected`, `listening` and `syn-rcv` are accepted too.
    public init?(name: some StringProtocol) {
        let lowered = name.lowercased()
        switch lowered {
        case "closed", "unconnected": rawValue = Self.close.rawValue
        case "listening": rawValue = Self.listen.rawValue
        case "syn-rcv": rawValue = Self.synRecv.rawValue
        default:
            guard let index = Self.filterNames.firstIndex(where: { $0.description == lowered }), index > 0 else {
                return nil
            }
            rawValue = UInt8(index)
        }
    }

    /// The `ss` filter name (`time-wait`): the name used in filters and JSON.
    public var name: String { staticName?.description ?? "unknown-\(rawValue)" }

    /// ``name`` for the states the kernel defines, `nil` beyond them: formatting copies it without a `String`
    /// (a switch, not a table: a formatter in another module reads it inline, with no global to initialise).
    @inlinable @inline(__always) package var staticName: StaticString? {
        switch rawValue {
        case 0: "unknown"
        case 1: "established"
        case 2: "syn-sent"
        case 3: "syn-recv"
        case 4: "fin-wait-1"
        case 5: "fin-wait-2"
        case 6: "time-wait"
        case 7: "close"
        case 8: "close-wait"
        case 9: "last-ack"
        case 10: "listen"
        case 11: "closing"
        default: nil
        }
    }

    /// The `ss` column name (`TIME-WAIT`, `ESTAB`, `UNCONN`).
    public var columnName: String { staticColumnName.description }

    /// ``columnName`` as a static string.
    @inlinable @inline(__always) package var staticColumnName: StaticString {
        switch rawValue {
        case 1: "ESTAB"
        case 2: "SYN-SENT"
        case 3: "SYN-RECV"
        case 4: "FIN-WAIT-1"
        case 5: "FIN-WAIT-2"
        case 6: "TIME-WAIT"
        case 7: "UNCONN"
        case 8: "CLOSE-WAIT"
        case 9: "LAST-ACK"
        case 10: "LISTEN"
        case 11: "CLOSING"
        default: "UNKNOWN"
        }
    }

    public var description: String { name }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A set of TCP states whose raw value is the kernel's `idiag_states` mask (`1 << state`).
public struct StateSet: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The set holding one state.
    public init(_ state: TCPState) { rawValue = 1 << UInt32(state.rawValue) }

    /// The set holding the given states.
    public init(_ states: some Sequence<TCPState>) {
        rawValue = 0
        for state in states { insert(state) }
    }

    /// Every state (`ss`'s `all`), the mask `0xFFF`.
    public static let all = StateSet(rawValue: 0xFFF)
    /// All but listen and close (`ss`'s `connected`).
    public static let connected = all.subtracting([StateSet(.listen), StateSet(.close)])
    /// Connected and past the handshake (`ss`'s `synchronized`).
    public static let synchronized = connected.subtracting(StateSet(.synSent))
    /// The minisocket states (`ss`'s `bucket`): syn-recv and time-wait.
    public static let bucket = StateSet([.synRecv, .timeWait])
    /// Full sockets (`ss`'s `big`): all but the bucket states.
    public static let big = all.subtracting(bucket)
    /// What `ss` shows without `-a` or `-l`: connected, less time-wait and syn-recv.
    public static let ssDefault = connected.subtracting(bucket)

    /// Whether the set holds `state`.
    public func contains(_ state: TCPState) -> Bool { rawValue & (1 << UInt32(state.rawValue)) != 0 }

    /// Adds `state`.
    public mutating func insert(_ state: TCPState) { rawValue |= 1 << UInt32(state.rawValue) }

    /// Removes `state`.
    public mutating func remove(_ state: TCPState) { rawValue &= ~(1 << UInt32(state.rawValue)) }

    /// The states in the set, in kernel order.
    public var states: [TCPState] { TCPState.allCases.filter { contains($0) } }

    /// Looks up a state name or an `ss` group name (`all connected synchronized bucket big`).
    public init?(name: some StringProtocol) {
        switch name.lowercased() {
        case "all": self = .all
        case "connected": self = .connected
        case "synchronized": self = .synchronized
        case "bucket": self = .bucket
        case "big": self = .big
        default:
            guard let state = TCPState(name: name) else { return nil }
            self.init(state)
        }
    }

    /// The names a user may give: the states and the groups.
    public static let validNames =
        TCPState.allCases.map(\.name) + ["all", "connected", "synchronized", "bucket", "big"]

    public var description: String { "[" + states.map(\.name).joined(separator: ", ") + "]" }
}
