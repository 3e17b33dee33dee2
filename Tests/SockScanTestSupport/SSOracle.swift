import SockDiag

/// `ss` (iproute2) as an independent oracle: runs it inside a namespace and parses its numeric output
/// into ``SocketTuple``s.
///
/// `ss` quirks this handles: the `Netid` column is left out when one protocol is asked for, and the
/// `State` column when one state is; unconnected UDP is `UNCONN`; IPv6 addresses are bracketed
/// (`[::1]:80`); port 0 and a dual-stack wildcard print as `*`; a bound device adds `%lo` to the address.
public struct SSOracle: Sendable {
    /// The namespace name (`ip netns exec NAME ss …`).
    public var namespace: String

    public init(namespace: String) { self.namespace = namespace }

    /// Runs `ss -nH -a` with the protocol flags and an optional single-state filter and parses every line.
    ///
    /// - Parameters:
    ///   - protocols: `.tcp` (`-t`), `.udp` (`-u`) or both.
    ///   - state: a single state to pass as `state NAME` (the kernel filters; `ss` then drops the column).
    /// - Throws: ``CommandError`` when `ss` fails or a line does not parse.
    public func tuples(_ protocols: ProtocolSet = .all, state: TCPState? = nil) throws -> [SocketTuple] {
        var flags = "-"
        if protocols.contains(.tcp) { flags += "t" }
        if protocols.contains(.udp) { flags += "u" }
        flags += "anH"
        var arguments = ["netns", "exec", namespace, "ss", flags]
        if let state { arguments += ["state", state.name] }
        let output = try Command.check("ip", arguments)
        let onlyProto: TransportProtocol? =
            protocols == .all ? nil : (protocols.contains(.tcp) ? .tcp : .udp)
        return try output.split(separator: "\n").map { line in
            guard let tuple = Self.parse(line, proto: onlyProto, state: state) else {
                throw CommandError("cannot parse ss line: \(line)")
            }
            return tuple
        }
    }

    /// Parses one line of `ss -nH` (with or without the Netid and State columns).
    ///
    /// - Parameters:
    ///   - proto: the protocol when the Netid column is absent.
    ///   - state: the state when the State column is absent.
    /// - Returns: the tuple, or `nil` when the line has an unexpected shape.
    public static func parse(_ line: some StringProtocol, proto: TransportProtocol?, state: TCPState?) -> SocketTuple? {
        var fields = line.split(separator: " ", omittingEmptySubsequences: true)[...]
        var lineProto = proto
        var lineState = state
        if let first = fields.first, first == "tcp" || first == "udp" {
            lineProto = first == "tcp" ? .tcp : .udp
            fields = fields.dropFirst()
        }
        if let first = fields.first, UInt32(first) == nil {
            guard let parsed = columnState(first) else { return nil }
            lineState = parsed
            fields = fields.dropFirst()
        }
        // Recv-Q Send-Q Local Peer (and nothing else: no -p, -e here).
        guard fields.count == 4, let proto = lineProto, let state = lineState,
            UInt32(fields[fields.startIndex]) != nil, UInt32(fields[fields.startIndex + 1]) != nil,
            let local = endpoint(fields[fields.startIndex + 2]), let remote = endpoint(fields[fields.startIndex + 3])
        else { return nil }
        // `*` alone does not say the family; the other end does.
        let family = local.family ?? remote.family ?? .inet6
        func resolve(_ e: (address: IPAddress?, family: AddressFamily?, port: UInt16)) -> Endpoint {
            Endpoint(address: e.address ?? (family == .inet ? .v4(.any) : .v6(.any)), port: e.port)
        }
        return SocketTuple(proto: proto, family: family, state: state, local: resolve(local), remote: resolve(remote))
    }

    /// `ss`'s column names (`ESTAB`, `TIME-WAIT`, `UNCONN`) to states.
    public static func columnState(_ name: some StringProtocol) -> TCPState? {
        switch name {
        case "ESTAB": .established
        case "UNCONN": .close
        case "CLOSE": .close
        default: TCPState.allCases.first { $0.columnName == name }
        }
    }

    /// `127.0.0.1:80`, `[::1]:80`, `*:80`, `0.0.0.0:*`, `[fe80::1]%lo:80`, `127.0.0.1%lo:80`: the address
    /// (nil for `*`), its family (nil when unknown) and the port (0 for `*`).
    static func endpoint(_ text: some StringProtocol) -> (address: IPAddress?, family: AddressFamily?, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        let port: UInt16
        if portText == "*" {
            port = 0
        } else {
            guard let value = UInt16(portText) else { return nil }
            port = value
        }
        // ss prints a bound device after the (bracketed) address: `[fe80::1]%lo:80`.
        if let percent = host.firstIndex(of: "%") { host = host[..<percent] }
        if host == "*" { return (nil, nil, port) }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            guard let a = IPv6Address(host.dropFirst().dropLast()) else { return nil }
            return (.v6(a), .inet6, port)
        }
        guard let a = IPv4Address(host) else { return nil }
        return (.v4(a), .inet, port)
    }
}
