/// The transport protocol of a socket.
public enum TransportProtocol: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// TCP (`IPPROTO_TCP`).
    case tcp = 6
    /// UDP (`IPPROTO_UDP`).
    case udp = 17

    public var description: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        }
    }
}

/// The address family of a socket.
public enum AddressFamily: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// IPv4 (`AF_INET`).
    case inet = 2
    /// IPv6 (`AF_INET6`).
    case inet6 = 10

    /// `inet` or `inet6`, as `ss -f` names them.
    public var description: String {
        switch self {
        case .inet: "inet"
        case .inet6: "inet6"
        }
    }
}

/// A set of transport protocols.
public struct ProtocolSet: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// TCP.
    public static let tcp = ProtocolSet(rawValue: 1)
    /// UDP.
    public static let udp = ProtocolSet(rawValue: 2)
    /// TCP and UDP.
    public static let all: ProtocolSet = [.tcp, .udp]

    /// Whether the set holds `proto`.
    public func contains(_ proto: TransportProtocol) -> Bool {
        contains(proto == .tcp ? ProtocolSet.tcp : ProtocolSet.udp)
    }
}

/// A set of address families.
public struct FamilySet: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// IPv4.
    public static let inet = FamilySet(rawValue: 1)
    /// IPv6.
    public static let inet6 = FamilySet(rawValue: 2)
    /// IPv4 and IPv6.
    public static let all: FamilySet = [.inet, .inet6]

    /// Whether the set holds `family`.
    public func contains(_ family: AddressFamily) -> Bool {
        contains(family == .inet ? FamilySet.inet : FamilySet.inet6)
    }
}

/// The timer a socket has running (`idiag_timer`), as `ss -o` shows it.
public enum SocketTimerKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// No timer (`ss`: `off`).
    case none = 0
    /// The retransmission timer (`on`).
    case retransmit = 1
    /// The keepalive timer.
    case keepalive = 2
    /// The TIME_WAIT timer (`timewait`).
    case timeWait = 3
    /// The zero-window probe timer (`persist`).
    case zeroWindowProbe = 4
    /// A value this version does not know.
    case unknown = 255

    public var description: String { staticDescription.description }

    /// ``description`` as a static string (formatting copies it without a `String`).
    @inlinable @inline(__always) package var staticDescription: StaticString {
        switch self {
        case .none: "off"
        case .retransmit: "on"
        case .keepalive: "keepalive"
        case .timeWait: "timewait"
        case .zeroWindowProbe: "persist"
        case .unknown: "unknown"
        }
    }
}

/// A socket's timer: its kind, milliseconds to expiry, and retransmissions so far.
public struct SocketTimer: Hashable, Sendable {
    /// Which timer runs (`idiag_timer`).
    public var kind: SocketTimerKind
    /// Milliseconds until the timer fires (`idiag_expires`).
    public var expiresMilliseconds: UInt32
    /// Retransmissions (`idiag_retrans`), or keepalive probes sent.
    public var retransmits: UInt8

    /// A timer of `kind` firing in `expiresMilliseconds`, after `retransmits` retransmissions.
    public init(kind: SocketTimerKind, expiresMilliseconds: UInt32, retransmits: UInt8) {
        self.kind = kind
        self.expiresMilliseconds = expiresMilliseconds
        self.retransmits = retransmits
    }
}

/// The subset of `struct tcp_info` SockScan reports (`INET_DIAG_INFO`).
///
/// Fields a kernel does not send (an older, shorter `tcp_info`) are zero.
public struct TCPInfo: Hashable, Sendable {
    /// Smoothed round-trip time, microseconds.
    public var rtt: UInt32 = 0
    /// Round-trip time variance, microseconds.
    public var rttvar: UInt32 = 0
    /// Retransmission timeout, microseconds.
    public var rto: UInt32 = 0
    /// Congestion window, segments.
    public var cwnd: UInt32 = 0
    /// Slow-start threshold, segments (`0x7fffffff`: not yet set).
    public var ssthresh: UInt32 = 0
    /// Sender maximum segment size.
    public var sendMSS: UInt32 = 0
    /// Receiver maximum segment size.
    public var receiveMSS: UInt32 = 0
    /// Unacknowledged segments in flight.
    public var unacked: UInt32 = 0
    /// Segments considered lost.
    public var lost: UInt32 = 0
    /// Consecutive retransmissions of the current segment (`tcpi_retransmits`).
    public var retransmits: UInt8 = 0
    /// Retransmitted segments over the connection's life (`tcpi_total_retrans`).
    public var totalRetransmits: UInt32 = 0
    /// Bytes acknowledged by the peer.
    public var bytesAcked: UInt64 = 0
    /// Bytes received from the peer.
    public var bytesReceived: UInt64 = 0
    /// Most recent delivery rate estimate, bytes per second.
    public var deliveryRate: UInt64 = 0

    /// All fields zero.
    public init() {}
}

/// Socket memory (`INET_DIAG_SKMEMINFO`, what `ss -m` shows as `skmem:(...)`), bytes.
public struct SocketMemory: Hashable, Sendable {
    /// Receive queue memory allocated (`r`).
    public var receiveAllocated: UInt32 = 0
    /// Receive buffer size (`rb`).
    public var receiveBuffer: UInt32 = 0
    /// Transmit memory allocated (`t`).
    public var sendAllocated: UInt32 = 0
    /// Send buffer size (`tb`).
    public var sendBuffer: UInt32 = 0
    /// Forward-allocated memory (`f`).
    public var forwardAllocated: UInt32 = 0
    /// Memory queued for sending (`w`).
    public var sendQueued: UInt32 = 0
    /// Option memory (`o`).
    public var optionMemory: UInt32 = 0
    /// Backlog queue memory (`bl`).
    public var backlog: UInt32 = 0
    /// Dropped packets (`d`).
    public var drops: UInt32 = 0

    /// All fields zero.
    public init() {}
}

/// One socket as the kernel reports it.
///
/// A plain value: it never points into the receive buffer and holds no references,
/// so streaming records allocates nothing.
public struct SocketRecord: Hashable, Sendable {
    /// TCP or UDP: the protocol the dump asked for (the message does not say).
    public var proto: TransportProtocol
    /// IPv4 or IPv6.
    public var family: AddressFamily
    /// The TCP state (UDP uses `.established` for connected and `.close` for unconnected sockets).
    public var state: TCPState
    /// The local end: address and port (`id.idiag_src`, `idiag_sport`).
    public var local: Endpoint
    /// The remote end (`id.idiag_dst`, `idiag_dport`); the unspecified address and port 0 when unconnected.
    public var remote: Endpoint
    /// Bytes in the receive queue (for a listener: the accept queue length).
    public var receiveQueue: UInt32
    /// Bytes in the send queue (for a listener: the accept queue limit).
    public var sendQueue: UInt32
    /// The owner's user id (`idiag_uid`).
    public var uid: UInt32
    /// The socket's inode (`idiag_inode`), as `/proc/PID/fd` links name it (`socket:[INODE]`); 0 for TIME_WAIT.
    public var inode: UInt32
    /// The kernel's socket cookie (`idiag_cookie`): unique while the socket lives.
    public var cookie: UInt64
    /// The bound interface index (`SO_BINDTODEVICE` / scope), 0 for none.
    public var interfaceIndex: UInt32
    /// The timer running on the socket, as `ss -o` shows it.
    public var timer: SocketTimer
    /// `tcp_info` when asked for with ``ScanExtensions/tcpInfo`` (TCP only, not for TIME_WAIT).
    public var tcpInfo: TCPInfo?
    /// Memory when asked for with ``ScanExtensions/memory`` (not for TIME_WAIT).
    public var memory: SocketMemory?
    /// For an IPv6 socket in listen or close state: whether it takes IPv6 only (`IPV6_V6ONLY`), or IPv4
    /// too (a dual-stack socket, which `ss` shows as `*:PORT`). The kernel reports it unasked
    /// (`INET_DIAG_SKV6ONLY`); `nil` where it does not (other states, IPv4, the /proc reader).
    public var v6Only: Bool?

    /// A record with the given fields; what a socket lacks keeps its default.
    public init(
        proto: TransportProtocol, family: AddressFamily, state: TCPState, local: Endpoint, remote: Endpoint,
        receiveQueue: UInt32 = 0, sendQueue: UInt32 = 0, uid: UInt32 = 0, inode: UInt32 = 0, cookie: UInt64 = 0,
        interfaceIndex: UInt32 = 0,
        timer: SocketTimer = SocketTimer(kind: .none, expiresMilliseconds: 0, retransmits: 0),
        tcpInfo: TCPInfo? = nil, memory: SocketMemory? = nil, v6Only: Bool? = nil
    ) {
        self.proto = proto
        self.family = family
        self.state = state
        self.local = local
        self.remote = remote
        self.receiveQueue = receiveQueue
        self.sendQueue = sendQueue
        self.uid = uid
        self.inode = inode
        self.cookie = cookie
        self.interfaceIndex = interfaceIndex
        self.timer = timer
        self.tcpInfo = tcpInfo
        self.memory = memory
        self.v6Only = v6Only
    }
}
