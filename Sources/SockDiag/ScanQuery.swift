internal import CNetlink

/// Optional per-socket information to ask the kernel for (`idiag_ext`). Each costs message size.
public struct ScanExtensions: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    /// The extensions whose bits are set in `rawValue`.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `tcp_info` (`INET_DIAG_INFO`): rtt, cwnd, retransmits, bytes… TCP only.
    public static let tcpInfo = ScanExtensions(rawValue: 1)
    /// Socket memory (`INET_DIAG_SKMEMINFO`), as `ss -m`.
    public static let memory = ScanExtensions(rawValue: 2)

    /// The kernel's `idiag_ext` bits: `1 << (INET_DIAG_x - 1)`.
    var kernelMask: UInt8 {
        var mask: UInt8 = 0
        if contains(.tcpInfo) { mask |= 1 << (UInt8(INET_DIAG_INFO) - 1) }
        if contains(.memory) { mask |= 1 << (UInt8(INET_DIAG_SKMEMINFO) - 1) }
        return mask
    }
}

/// What to scan: everything here is filtered inside the kernel.
public struct ScanQuery: Hashable, Sendable {
    /// Protocols to dump.
    public var protocols: ProtocolSet
    /// Address families to dump.
    public var families: FamilySet
    /// The states to dump (`idiag_states`) when the filter names none: what `ss` selects with `-a` (all),
    /// `-l` (listen and close) or by default (``StateSet/ssDefault``). A filter that names states
    /// (`state established`, `exclude time-wait`) starts from all states instead, as in `ss`.
    public var states: StateSet
    /// Extra information per socket.
    public var extensions: ScanExtensions
    /// An exact local port (`id.idiag_sport`), the cheapest kernel filter.
    public var localPort: UInt16?
    /// An exact remote port (`id.idiag_dport`).
    public var remotePort: UInt16?
    /// An `INET_DIAG_REQ_BYTECODE` program the kernel runs on each socket; the kernel audits it and
    /// refuses a bad one with `EINVAL`.
    public var bytecode: [UInt8]?
    /// A filter in the `ss` language, compiled into the cheapest kernel program (``KernelProgram``): its
    /// states narrow ``states``, exact ports go to the request id, the rest to bytecode, and only what the
    /// kernel cannot test is evaluated here on what it returned.
    public var filter: Filter?
    /// The scanned namespace's `ip_local_port_range` when the caller has read it already, for a filter's
    /// `autobound`; `nil` reads it when needed.
    public var ephemeralPorts: PortRange?

    /// A query; every part has the default of an unfiltered dump of all TCP sockets.
    public init(
        protocols: ProtocolSet = .tcp, families: FamilySet = .all, states: StateSet = .all,
        extensions: ScanExtensions = [], localPort: UInt16? = nil, remotePort: UInt16? = nil,
        bytecode: [UInt8]? = nil, filter: Filter? = nil
    ) {
        self.protocols = protocols
        self.families = families
        self.states = states
        self.extensions = extensions
        self.localPort = localPort
        self.remotePort = remotePort
        self.bytecode = bytecode
        self.filter = filter
    }
}

/// How TCP is dumped when both families are asked for.
public enum TCPDumpStrategy: String, Sendable, Hashable, CaseIterable {
    /// The legacy `TCPDIAG_GETSOCK` request where the kernel serves it (one hash walk for IPv4 and IPv6),
    /// else one `SOCK_DIAG_BY_FAMILY` request per family.
    case automatic
    /// Always one `SOCK_DIAG_BY_FAMILY` request per family (two walks).
    case perFamily
    /// Only the legacy one-pass request; fails where the kernel does not serve it.
    case onePass
}

/// Where records come from.
public enum ScanSource: String, Sendable, Hashable {
    /// NETLINK_SOCK_DIAG.
    case netlink
    /// `/proc/net/*` text: because netlink was refused, or asked for (for comparison).
    case procfs
}

/// What a scan did: requests, bytes, and whether the kernel saw the table change mid-dump.
public struct ScanStatistics: Hashable, Sendable {
    /// Kernel dump requests sent.
    public var requests = 0
    /// Netlink datagrams received.
    public var batches = 0
    /// Bytes received.
    public var bytes = 0
    /// Records delivered.
    public var records = 0
    /// Whether any dump was flagged `NLM_F_DUMP_INTR`.
    ///
    /// inet_diag (as of Linux 6.18) never sets the flag: it resumes each batch by hash bucket and position,
    /// so under churn a socket can be missed or repeated without notice. Deduplicate by ``SocketRecord/cookie``
    /// where exact numbers matter. The flag is still honoured should a kernel set it.
    public var interrupted = false
    /// Whether TCP used the one-pass legacy request.
    public var usedOnePassTCP = false
    /// Protocols read from `/proc` instead of netlink.
    public var procfsFallback: ProtocolSet = []

    /// Nothing done yet.
    public init() {}
}
