import SockDiag

/// Utilization thresholds, in percent of the ports a destination can use.
public struct PortThresholds: Hashable, Sendable {
    /// At or over: the verdict is at least ``PortVerdict/warn``.
    public var warn: Double
    /// At or over: the verdict is ``PortVerdict/critical``.
    public var critical: Double

    public init(warn: Double = 70, critical: Double = 90) {
        self.warn = warn
        self.critical = critical
    }
}

/// How close the namespace is to `connect()` failing with `EADDRNOTAVAIL`.
public enum PortVerdict: String, Hashable, Sendable, Comparable {
    case ok
    case warn
    case critical

    public static func < (lhs: Self, rhs: Self) -> Bool {
        func rank(_ v: Self) -> Int {
            switch v {
            case .ok: 0
            case .warn: 1
            case .critical: 2
            }
        }
        return rank(lhs) < rank(rhs)
    }
}

/// The share of ports in use, 1 when there is no port at all (every attempt fails): the one utilization formula
/// of ports, metrics and history.
func utilization(used: Int, capacity: Int) -> Double {
    capacity > 0 ? Double(used) / Double(capacity) : 1
}

/// One destination's use of the ephemeral ports: what `sockscan ports` lists, `sockscan serve` exposes and
/// `sockscan record` keeps (the one destination type of every target).
public struct DestinationReport: Hashable, Sendable {
    public var destination: Destination
    /// Sockets to it on an ephemeral port, in any state but listen (TIME_WAIT included).
    public var used: Int
    /// Ports it can use: the same for every destination.
    public var capacity: Int
    /// `used` per state. A destination read back from a history has established and time-wait only (the
    /// states the history keeps).
    public var states: StateCounts
    /// TIME_WAIT sockets `connect()` may take over now: `tcp_tw_reuse` applies to this destination (1, or 2
    /// with loopback) and they are older than the reuse delay. 0 when reuse does not apply.
    public var reusableTimeWait: Int
    /// The seconds of closes its TIME_WAIT sockets stand for: 60 (TIME_WAIT's length: each close made on this
    /// side in the last minute is still one), or, where `tcp_tw_reuse` applies, the age of the oldest one (at
    /// least the reuse delay): `connect()` takes aged ones over, so fewer remain than the minute's closes.
    public var timeWaitSpanSeconds: Double
    /// Connections to it that ended during a measured window (`ports --sample`); `nil` when none was measured.
    public var sampledCloses: Int?
    /// ``sampledCloses`` per second of the window; `nil` when none was measured.
    public var closesPerSecond: Double?

    /// A destination's ports as given; its TIME_WAIT sockets stand for `timeWaitSpanSeconds` of closes.
    public init(
        destination: Destination, used: Int, capacity: Int, states: StateCounts, reusableTimeWait: Int = 0,
        timeWaitSpanSeconds: Double = Double(PortReport.timeWaitSeconds)
    ) {
        self.destination = destination
        self.used = used
        self.capacity = capacity
        self.states = states
        self.reusableTimeWait = reusableTimeWait
        self.timeWaitSpanSeconds = timeWaitSpanSeconds
    }

    /// Closes made on this side per second, estimated from its TIME_WAIT sockets: their count over
    /// ``timeWaitSpanSeconds``. Without `tcp_tw_reuse`, `time-wait / 60`: exactly the average over the last
    /// minute (each close this side made first holds its port 60 s in TIME_WAIT). Closes the remote side made
    /// first leave no TIME_WAIT here and are not in it.
    public var closesPerSecondEstimate: Double {
        timeWaitSpanSeconds > 0 ? Double(states[.timeWait]) / timeWaitSpanSeconds : 0
    }

    /// `used / capacity` (1 when the capacity is 0), TIME_WAIT included.
    public var utilization: Double { SockReport.utilization(used: used, capacity: capacity) }

    /// Ports `connect()` cannot take for this destination: `used - reusableTimeWait`.
    public var blocking: Int { used - reusableTimeWait }

    /// `blocking / capacity`: what decides the verdict. Equal to ``utilization`` unless TIME_WAIT reuse applies.
    public var effectiveUtilization: Double { SockReport.utilization(used: blocking, capacity: capacity) }
}

/// The UDP side: UDP sockets take ports from the same range but from their own port table.
public struct UDPPortReport: Hashable, Sendable {
    /// UDP sockets on a port inside the range.
    public var sockets: Int
    /// Distinct ports inside the range they hold.
    public var ports: Int
    /// Ports in the range that are not reserved.
    public var capacity: Int
    /// Sockets per state: `established` connected, `close` unconnected.
    public var states: StateCounts

    /// `ports / capacity` (1 when the capacity is 0).
    public var utilization: Double { SockReport.utilization(used: ports, capacity: capacity) }
}

/// The port-exhaustion analysis of one namespace.
public struct PortReport: Sendable {
    /// The sysctls it is based on.
    public var settings: PortSettings
    /// Reserved ports inside the range.
    public var reserved: Int
    /// Ports inside the range (and not reserved) held by a TCP `bind()`, ascending.
    public var boundPorts: [UInt16]
    /// Ports each destination can use: range - reserved - bound.
    public var capacity: Int
    /// Every destination, worst first (most used; ties by address).
    public var destinations: [DestinationReport]
    /// Sockets of destinations past the memory cap, not broken down (0 normally).
    public var otherSockets: Int
    /// UDP sockets holding ports in the range.
    public var udp: UDPPortReport
    /// The thresholds the verdict used.
    public var thresholds: PortThresholds
    /// The worst utilization: of any destination, or of the UDP pool.
    public var worstUtilization: Double
    public var verdict: PortVerdict
    /// Whether the UDP pool, not a destination, is what is fullest (the verdict is about it).
    public var udpIsWorse: Bool

    /// Kernel dump requests the analysis made (0 for a report of a ``PortUsage`` fed by hand).
    public var requests = 0

    /// The window of destroy events measured with ``addSample(_:seconds:droppedEvents:)``, if one was.
    public var sample: PortSample?

    /// Ports held by a TCP `bind()` inside the range.
    public var bound: Int { boundPorts.count }
    /// Distinct ephemeral ports held by connections to any destination: the limit for programs that
    /// `bind()` before `connect()` without `IP_BIND_ADDRESS_NO_PORT` (their ports are shared with nobody).
    public var portsInUse: Int
    /// ``portsInUse`` over ``capacity``.
    public var portsInUseUtilization: Double { SockReport.utilization(used: portsInUse, capacity: capacity) }

    /// Whether any destination (or the UDP pool) is at or over `percent` utilization.
    ///
    /// With no destination and no UDP socket nothing can be over (so `--fail-at 0` passes on an idle host),
    /// unless no port is left at all.
    public func isAtOrOver(percent: Double) -> Bool {
        guard !destinations.isEmpty || udp.sockets > 0 || capacity <= 0 else { return false }
        return worstUtilization * 100 >= percent - 1e-9
    }

    /// TIME_WAIT lasts `TCP_TIMEWAIT_LEN`, fixed at 60 s in the kernel (not `tcp_fin_timeout`).
    public static let timeWaitSeconds = 60

    init(usage: PortUsage, thresholds: PortThresholds) {
        settings = usage.settings
        reserved = usage.reservedPorts.count
        boundPorts = usage.boundPorts.ports
        capacity = usage.capacity
        portsInUse = usage.portsInUse.count
        self.thresholds = thresholds
        let capacity = capacity
        let settings = usage.settings
        let reuseDelay = Double(settings.timeWaitReuseDelayMilliseconds) / 1000
        destinations = usage.destinations.map {
            let reuse = settings.timeWaitReuseApplies(to: $0.key)
            let oldest = Double($0.value.oldestTimeWaitMilliseconds) / 1000
            return DestinationReport(
                destination: $0.key, used: Int($0.value.states.total), capacity: capacity, states: $0.value.states,
                reusableTimeWait: reuse ? $0.value.agedTimeWait : 0,
                timeWaitSpanSeconds: reuse && oldest > 0
                    ? min(Double(Self.timeWaitSeconds), max(reuseDelay, oldest)) : Double(Self.timeWaitSeconds))
        }
        destinations.sort {
            $0.blocking != $1.blocking
                ? $0.blocking > $1.blocking
                : $0.used != $1.used ? $0.used > $1.used : $0.destination < $1.destination
        }
        otherSockets = usage.overflowSockets
        udp = UDPPortReport(
            sockets: usage.udpSockets, ports: usage.udpPorts.count, capacity: settings.range.count - reserved,
            states: usage.udpStates)

        var worst = capacity <= 0 ? 1.0 : 0.0
        if let top = destinations.first { worst = max(worst, top.effectiveUtilization) }
        if udp.sockets > 0 || udp.capacity <= 0 { worst = max(worst, udp.utilization) }
        worstUtilization = worst
        let percent = worst * 100
        verdict = percent >= thresholds.critical - 1e-9 ? .critical : percent >= thresholds.warn - 1e-9 ? .warn : .ok

        udpIsWorse = udp.sockets > 0 && udp.utilization > (destinations.first?.effectiveUtilization ?? 0)
    }
}

/// A window of destroy events measured for ``PortReport`` (`ports --sample`).
public struct PortSample: Hashable, Sendable {
    /// The window, seconds.
    public var seconds: Double
    /// Client-side connections that ended in it, all destinations (those shown and not).
    public var closes: Int
    /// Events the kernel dropped because the receive buffer was full (the counts are low by at most this).
    public var droppedEvents: UInt64

    /// ``closes`` per second.
    public var closesPerSecond: Double { seconds > 0 ? Double(closes) / seconds : 0 }
}

extension PortReport {
    /// Sets each destination's measured close rate from what `tracker` counted over `seconds` (a
    /// ``ChurnCollector`` run before the analysis): ``DestinationReport/sampledCloses`` and
    /// ``DestinationReport/closesPerSecond``, 0 for a destination without a close.
    public mutating func addSample(_ tracker: ChurnTracker, seconds: Double, droppedEvents: UInt64 = 0) {
        sample = PortSample(seconds: seconds, closes: tracker.closes, droppedEvents: droppedEvents)
        for i in destinations.indices {
            let closes = tracker.destinations[destinations[i].destination]?.closes ?? 0
            destinations[i].sampledCloses = closes
            destinations[i].closesPerSecond = seconds > 0 ? Double(closes) / seconds : 0
        }
    }
}
