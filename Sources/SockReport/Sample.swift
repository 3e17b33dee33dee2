import SockDiag

/// The `sar -n SOCK` and `sar -n SOCK6` columns, in sar's order, each from `/proc/net/sockstat{,6}`.
public enum SarColumn: Int, CaseIterable, Sendable {
    case totsck, tcpsck, udpsck, rawsck, ipFrag, tcpTW, tcp6sck, udp6sck, raw6sck, ip6Frag

    /// sar's column name (`tcp-tw`): the table header and the JSON key.
    public var name: String {
        switch self {
        case .totsck: "totsck"
        case .tcpsck: "tcpsck"
        case .udpsck: "udpsck"
        case .rawsck: "rawsck"
        case .ipFrag: "ip-frag"
        case .tcpTW: "tcp-tw"
        case .tcp6sck: "tcp6sck"
        case .udp6sck: "udp6sck"
        case .raw6sck: "raw6sck"
        case .ip6Frag: "ip6-frag"
        }
    }

    /// The value in a sockstat reading.
    public func value(in stat: Sockstat) -> UInt64 {
        switch self {
        case .totsck: stat.socketsUsed
        case .tcpsck: stat.tcpInUse
        case .udpsck: stat.udpInUse
        case .rawsck: stat.rawInUse
        case .ipFrag: stat.fragInUse
        case .tcpTW: stat.tcpTimeWait
        case .tcp6sck: stat.tcp6InUse
        case .udp6sck: stat.udp6InUse
        case .raw6sck: stat.raw6InUse
        case .ip6Frag: stat.frag6InUse
        }
    }
}

/// The TCP states a sample keeps a count of (kernel states 1…11), with their `ss` names.
public enum SampleStates {
    public static let all: [TCPState] = TCPState.allCases
}

/// One sample: the sockstat totals and the TCP per-state counts of one kernel pass, at one moment.
public struct Sample: Hashable, Sendable {
    /// Wall-clock time of the sample, seconds since 1970 (UTC).
    public var time: Double
    /// The sar columns, indexed by ``SarColumn/rawValue``.
    public var sar: [Double]
    /// TCP sockets per state (kernel states 1…11).
    public var states: StateCounts
    /// Scheduled ticks skipped just before this one because the previous sample overran.
    public var missed: Int = 0
    /// The recorder's CPU time (user + system) since its previous sample, microseconds.
    public var cpuMicroseconds: Int64 = 0
    /// Wall time taken to take this sample, microseconds.
    public var sampleMicroseconds: Int64 = 0
    /// The worst destination's port utilization (0…1) when a full scan was made at this tick.
    public var portUtilization: Double?
    /// The worst destination of that full scan (the first of its top destinations), if it had any.
    public var worstDestination: DestinationReport?
    /// The recording run the sample belongs to (read from a history; `nil` while recording).
    public var runID: Int64?
    /// The connections that ended since the previous sample (``ChurnCollector``), `nil` when not counted:
    /// the first sample of a run, the kernel refused the destroy events, or a history recorded before they were.
    public var closes: IntervalCloses?

    public init(
        time: Double, sar: [Double] = Array(repeating: 0, count: SarColumn.allCases.count),
        states: StateCounts = StateCounts()
    ) {
        self.time = time
        self.sar = sar
        self.states = states
    }

    /// A sample of what was read.
    public init(time: Double, sockstat: Sockstat, counts: StateCounts) {
        self.time = time
        sar = SarColumn.allCases.map { Double($0.value(in: sockstat)) }
        states = counts
    }

    public subscript(column: SarColumn) -> Double {
        get { sar[column.rawValue] }
        set { sar[column.rawValue] = newValue }
    }

    public subscript(state: TCPState) -> UInt64 {
        get { states[state] }
        set { states[state] = newValue }
    }

    /// The states with a column of their own in the table (the rest are summed in `other`).
    public static let tableStates: [TCPState] = [.established, .synSent, .closeWait, .timeWait, .listen]
    /// The states the table sums in `other`.
    public static let otherTableStates: [TCPState] = SampleStates.all.filter { !tableStates.contains($0) }
}

/// What a full scan keeps: the worst utilization and the top destinations.
public struct PortSnapshot: Hashable, Sendable {
    public var worstUtilization: Double
    public var capacity: Int
    public var destinationCount: Int
    public var udpPorts: Int
    public var top: [DestinationReport]

    public init(_ report: PortReport, top: Int) {
        worstUtilization = report.worstUtilization
        capacity = report.capacity
        destinationCount = report.destinations.count
        udpPorts = report.udp.ports
        self.top = Array(report.destinations.prefix(top))
    }

    public init(worstUtilization: Double, capacity: Int, destinationCount: Int, udpPorts: Int, top: [DestinationReport])
    {
        self.worstUtilization = worstUtilization
        self.capacity = capacity
        self.destinationCount = destinationCount
        self.udpPorts = udpPorts
        self.top = top
    }
}
