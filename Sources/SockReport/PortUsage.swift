import SockDiag

/// Where outgoing TCP connections go, as far as local port choice is concerned: `connect()` may give two
/// sockets the same local port when their (local address, remote address, remote port) differ, so each
/// such tuple has the whole ephemeral range to itself.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are held as IPv4: a dual-stack socket talking to an IPv4
/// peer competes for the same 4-tuples as an IPv4 socket.
public struct Destination: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var localAddress: IPAddress
    public var remoteAddress: IPAddress
    public var remotePort: UInt16

    public init(localAddress: IPAddress, remoteAddress: IPAddress, remotePort: UInt16) {
        self.localAddress = Self.unmapped(localAddress)
        self.remoteAddress = Self.unmapped(remoteAddress)
        self.remotePort = remotePort
    }

    @inline(__always) static func unmapped(_ address: IPAddress) -> IPAddress {
        if case .v6(let v6) = address, let v4 = v6.mappedIPv4 { return .v4(v4) }
        return address
    }

    /// `local -> remote:port`.
    public var description: String {
        "\(localAddress) -> \(Endpoint(address: remoteAddress, port: remotePort))"
    }

    /// An order for stable output: by remote, then port, then local.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        func rank(_ a: IPAddress) -> (Int, UInt64, UInt64) {
            switch a {
            case .v4(let v): (4, 0, UInt64(v.value))
            case .v6(let v): (6, v.high, v.low)
            }
        }
        let l = rank(lhs.remoteAddress)
        let r = rank(rhs.remoteAddress)
        if l != r { return l < r }
        if lhs.remotePort != rhs.remotePort { return lhs.remotePort < rhs.remotePort }
        return rank(lhs.localAddress) < rank(rhs.localAddress)
    }
}

/// One destination's sockets: per state, and how many TIME_WAIT sockets are older than the reuse delay.
public struct DestinationTally: Hashable, Sendable {
    public var states = StateCounts()
    /// TIME_WAIT sockets older than `tcp_tw_reuse_delay` (by their TIME_WAIT timer): the ones
    /// `tcp_tw_reuse` would let `connect()` take over.
    public var agedTimeWait = 0
    /// How long the oldest TIME_WAIT socket has been in TIME_WAIT, milliseconds (by its timer; 0 without one).
    public var oldestTimeWaitMilliseconds: UInt32 = 0

    public init() {}
}

extension DestinationTally {
    mutating func add(_ state: TCPState, aged: Bool, timeWaitAge: UInt32 = 0) {
        states.add(state)
        if aged { agedTimeWait += 1 }
        oldestTimeWaitMilliseconds = max(oldestTimeWaitMilliseconds, timeWaitAge)
    }
}

/// Accumulates what a scan says about ephemeral ports, one socket at a time, in bounded memory.
///
/// Feed it the TCP sockets that hold ports by `bind()` first (listeners; ``addBinding(_:)``), then the
/// connected TCP sockets (``addConnection(_:)``) and the UDP sockets (``addUDP(_:)``), and ask for a
/// ``report(thresholds:maxDestinations:)``. The order matters: a connected socket on a bound port (a
/// listener's accepted connection) is not an ephemeral port and is skipped, which can only be known once
/// the bound ports are. Nothing is allocated per socket except new entries of the grouping dictionary,
/// which stops growing at `maxDestinations`; sockets of further destinations are tallied together.
public struct PortUsage: Sendable {
    /// The sysctls the analysis is based on.
    public let settings: PortSettings
    /// Reserved ports inside the range.
    public let reservedPorts: PortBitmap
    /// Ports inside the range, not reserved, held by a TCP `bind()` (listeners): no `connect()` can pick them.
    public private(set) var boundPorts = PortBitmap()
    /// Ports inside the range held by UDP sockets (UDP has its own port table; it shares only the range).
    public private(set) var udpPorts = PortBitmap()
    /// UDP sockets whose local port is inside the range.
    public private(set) var udpSockets = 0
    /// UDP sockets whose local port is inside the range, per state (`established` = connected, `close` = not).
    public private(set) var udpStates = StateCounts()
    /// Ephemeral ports held by any connected TCP socket, whatever its destination. Sockets that `bind()` before
    /// `connect()` (without `IP_BIND_ADDRESS_NO_PORT`) cannot share a port with any other socket, and the
    /// kernel cannot tell them from `connect()`'s own choices when the port was 0: for them this is the limit.
    public private(set) var portsInUse = PortBitmap()
    /// Connected TCP sockets on an ephemeral port, per destination.
    public private(set) var destinations: [Destination: DestinationTally] = [:]
    /// Sockets of destinations past the `maxDestinations` cap.
    public private(set) var overflow = StateCounts()
    /// Sockets of destinations past the cap.
    public var overflowSockets: Int { Int(overflow.total) }
    /// Connected TCP sockets skipped because their local port is outside the range, reserved or bound.
    public private(set) var skippedConnections = 0
    /// The most destinations kept apart; further ones are tallied in ``overflow``.
    public let maxDestinations: Int

    /// Starts an empty tally.
    ///
    /// - Parameters:
    ///   - settings: the namespace's port sysctls.
    ///   - maxDestinations: how many destinations to keep apart (memory: about 200 bytes each).
    public init(settings: PortSettings, maxDestinations: Int = 50_000) {
        self.settings = settings
        self.reservedPorts = settings.reserved.bitmap(in: settings.range)
        self.maxDestinations = max(1, maxDestinations)
        self.reuseDelay = UInt32(clamping: settings.timeWaitReuseDelayMilliseconds)
    }

    private let reuseDelay: UInt32

    // A TIME_WAIT socket is aged (tcp_tw_reuse may hand it over) when it has been in TIME_WAIT for at least
    // the reuse delay; without a TIME_WAIT timer (the /proc path) it counts as not aged.

    /// How long a TIME_WAIT socket has been in TIME_WAIT, milliseconds: its timer started at 60 s. `nil`
    /// without a TIME_WAIT timer (the /proc path).
    static func timeWaitAge(_ timer: SocketTimer) -> UInt32? {
        let length = UInt32(PortReport.timeWaitSeconds * 1000)
        guard timer.kind == .timeWait && timer.expiresMilliseconds <= length else { return nil }
        return length - timer.expiresMilliseconds
    }

    /// Whether `port` is one `connect()` can pick: inside the range, not reserved, not bound.
    public func isEphemeral(_ port: UInt16) -> Bool {
        settings.range.contains(port) && !reservedPorts.contains(port) && !boundPorts.contains(port)
    }

    /// Records a TCP socket that holds its port by `bind()` (a listener, or a bound socket not yet connected).
    public mutating func addBinding(_ record: SocketRecord) {
        let port = record.local.port
        if settings.range.contains(port) && !reservedPorts.contains(port) { boundPorts.insert(port) }
    }

    /// Records a connected TCP socket (any state but listen and close, TIME_WAIT included).
    public mutating func addConnection(_ record: SocketRecord) {
        guard isEphemeral(record.local.port) else {
            skippedConnections += 1
            return
        }
        portsInUse.insert(record.local.port)
        let key = Destination(
            localAddress: record.local.address, remoteAddress: record.remote.address, remotePort: record.remote.port)
        if destinations.count < maxDestinations || destinations[key] != nil {
            let age = record.state == .timeWait ? Self.timeWaitAge(record.timer) : nil
            destinations[key, default: DestinationTally()].add(
                record.state, aged: age.map { $0 >= reuseDelay } ?? false, timeWaitAge: age ?? 0)
        } else {
            overflow.add(record.state)
        }
    }

    /// Records a UDP socket; only those on a port inside the range count.
    public mutating func addUDP(_ record: SocketRecord) {
        let port = record.local.port
        guard settings.range.contains(port) else { return }
        udpSockets += 1
        udpStates.add(record.state)
        udpPorts.insert(port)
    }

    /// Routes a record to ``addBinding(_:)``, ``addConnection(_:)`` or ``addUDP(_:)`` by protocol and state.
    public mutating func add(_ record: SocketRecord) {
        if !addHolder(record) { addConnection(record) }
    }

    /// Records a socket that holds its port whatever the destination: UDP (``addUDP(_:)``), or a TCP listener
    /// or bound-but-idle socket (``addBinding(_:)``).
    ///
    /// - Returns: `false` for a TCP connection, which it leaves alone.
    @discardableResult
    public mutating func addHolder(_ record: SocketRecord) -> Bool {
        if record.proto == .udp {
            addUDP(record)
        } else if record.state == .listen || record.state == PortExhaustion.boundInactive || record.state == .close {
            // A bound-but-idle socket (asked for with TCP_BOUND_INACTIVE) is reported in state close: a
            // closed TCP socket is in no hash unless bind() put it in the bind hash. The kernel walks the
            // bind hash after the listeners and before the established hash.
            addBinding(record)
        } else {
            return false
        }
        return true
    }

    /// Ports every destination can use: range size - reserved in range - bound in range.
    public var capacity: Int { settings.range.count - reservedPorts.count - boundPorts.count }

    /// The analysis: destinations worst first, the UDP pool, a verdict and advice.
    public func report(thresholds: PortThresholds = PortThresholds()) -> PortReport {
        PortReport(usage: self, thresholds: thresholds)
    }
}
