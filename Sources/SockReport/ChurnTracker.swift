import SockDiag

/// Connection churn per destination: how fast a client opens and closes connections to each destination,
/// counted from the kernel's destroy events.
///
/// Closing connections is what fills a destination's ephemeral ports with TIME_WAIT sockets: each connection
/// the client closes first holds its local port for 60 s more. The tracker counts, per destination (the key of
/// ``PortExhaustion``: local address, remote address, remote port), the client sockets destroyed (their local
/// port inside the ephemeral range), their bytes, and a sample of their 4-tuples from which the share left in
/// TIME_WAIT is measured afterwards (``recordTimeWait(_:)``).
///
/// Memory is bounded: at most `maxDestinations` destinations are kept apart (the rest are summed in
/// ``otherCloses``), each with a fixed-size byte histogram and a fixed-size tuple sample.
public struct ChurnTracker: Sendable {
    /// The ephemeral range: a socket whose local port is in it is a client side.
    public private(set) var ephemeralPorts: PortRange
    /// Ports of the range held by `bind()` (listeners): a socket on one is a server side, not a client.
    public private(set) var boundPorts: PortBitmap
    /// Destinations kept apart at most.
    public let maxDestinations: Int

    /// Per destination, what was counted.
    public private(set) var destinations: [Destination: DestinationChurnCount] = [:]
    /// Client-side TCP sockets destroyed (connections ended), all destinations.
    public private(set) var closes = 0
    /// Closes of destinations beyond `maxDestinations`.
    public private(set) var otherCloses = 0
    /// Client-side TCP connections this side aborted (`SO_LINGER` 0, `ss -K`): the kernel reports them with
    /// the local address and the remote port cleared, so their destination is unknown. They leave no
    /// TIME_WAIT socket.
    public private(set) var abortedCloses = 0
    /// Destroyed TCP sockets that were not client sides (a server's accepted sockets, listeners) or UDP.
    public private(set) var otherSockets = 0

    /// An empty tracker; sockets on `boundPorts` (the listeners' ports inside the range) are not client sides.
    public init(ephemeralPorts: PortRange, boundPorts: PortBitmap = PortBitmap(), maxDestinations: Int = 10_000) {
        self.ephemeralPorts = ephemeralPorts
        self.boundPorts = boundPorts
        self.maxDestinations = maxDestinations
    }

    /// Replaces what tells client sides apart, for the sockets destroyed from now on: a long-running
    /// collector re-reads them (``ChurnCollector/refreshClientSides()``) so that a listener started later, or
    /// a changed `ip_local_port_range`, is taken into account. What was counted stays.
    public mutating func setClientSides(ephemeralPorts: PortRange, boundPorts: PortBitmap) {
        self.ephemeralPorts = ephemeralPorts
        self.boundPorts = boundPorts
    }

    /// Counts one destroyed socket.
    public mutating func add(_ event: SocketEvent) {
        let socket = event.socket
        guard socket.proto == .tcp, ephemeralPorts.contains(socket.local.port), !boundPorts.contains(socket.local.port)
        else {
            otherSockets += 1
            return
        }
        // An aborted connection (tcp_disconnect) is reported with its remote port 0 and the remote address
        // kept; a listener or an unconnected socket has both cleared.
        if socket.remote.port == 0 {
            if socket.remote.address.isUnspecified { otherSockets += 1 } else { abortedCloses += 1 }
            return
        }
        closes += 1
        let key = Destination(
            localAddress: socket.local.address, remoteAddress: socket.remote.address, remotePort: socket.remote.port)
        if destinations[key] == nil && destinations.count >= maxDestinations {
            otherCloses += 1
            return
        }
        destinations[key, default: DestinationChurnCount()].add(socket, sequence: closes)
    }

    /// Marks the sampled tuples that are now in TIME_WAIT (this side closed first): pass a set of
    /// `(local, remote)` endpoints of the namespace's TIME_WAIT sockets, dumped once after the window.
    public mutating func recordTimeWait(_ timeWait: Set<SocketPair>) {
        for key in destinations.keys {
            destinations[key]!.recordTimeWait(timeWait)
        }
    }
}

/// A connection's two ends.
public struct SocketPair: Hashable, Sendable {
    /// The local end.
    public var local: Endpoint
    /// The remote end.
    public var remote: Endpoint

    /// The pair `local`, `remote`; IPv4-mapped IPv6 addresses are taken as IPv4, as ``Destination`` does.
    public init(local: Endpoint, remote: Endpoint) {
        self.local = Endpoint(address: Destination.unmapped(local.address), port: local.port)
        self.remote = Endpoint(address: Destination.unmapped(remote.address), port: remote.port)
    }
}

/// What the tracker counted for one destination.
public struct DestinationChurnCount: Hashable, Sendable {
    /// Connections closed (client sides destroyed).
    public private(set) var closes = 0
    /// Closes that carried `tcp_info` (their bytes are in ``bytes``).
    public private(set) var withBytes = 0
    /// Bytes per connection (sent and acknowledged plus received), as a histogram.
    public private(set) var bytes = ByteHistogram()
    /// Tuples sampled for the TIME_WAIT check (at most ``sampleSize``, spread over the window).
    private var sample: [SocketPair] = []
    /// Of the sample, how many were found in TIME_WAIT; `nil` until ``recordTimeWait(_:)``.
    public private(set) var sampledInTimeWait: Int?

    /// Tuples kept per destination for the TIME_WAIT check.
    public static let sampleSize = 256

    /// Nothing counted.
    public init() {}

    mutating func add(_ socket: SocketRecord, sequence: Int) {
        closes += 1
        if let info = socket.tcpInfo {
            withBytes += 1
            bytes.add(info.bytesAcked &+ info.bytesReceived)
        }
        // Reservoir sampling with a deterministic stream (the close number), so a sample stays uniform over
        // the whole window and the same events give the same sample.
        let pair = SocketPair(local: socket.local, remote: socket.remote)
        if sample.count < Self.sampleSize {
            sample.append(pair)
        } else {
            var mixer = UInt64(truncatingIfNeeded: sequence) &* 0x9E37_79B9_7F4A_7C15
            mixer ^= mixer >> 29
            let slot = Int(mixer % UInt64(closes))
            if slot < Self.sampleSize { sample[slot] = pair }
        }
    }

    mutating func recordTimeWait(_ timeWait: Set<SocketPair>) {
        sampledInTimeWait = sample.reduce(0) { $0 + (timeWait.contains($1) ? 1 : 0) }
    }

    /// The share of closes this side made first (so each left a TIME_WAIT socket), measured on the sample;
    /// `nil` before ``ChurnTracker/recordTimeWait(_:)``.
    public var closedHereShare: Double? {
        guard let inTimeWait = sampledInTimeWait, !sample.isEmpty else { return nil }
        return Double(inTimeWait) / Double(sample.count)
    }
}

/// Counts of byte sizes in logarithmic buckets (four per power of two): percentiles within about 10%, in a
/// fixed 196 counters.
public struct ByteHistogram: Hashable, Sendable {
    private var counts = [UInt32](repeating: 0, count: 196)
    /// Values counted.
    public private(set) var total = 0

    /// Empty.
    public init() {}

    /// The bucket of `value`: 0–3 exact, then four per power of two.
    static func bucket(_ value: UInt64) -> Int {
        if value < 4 { return Int(value) }
        let log = 63 - value.leadingZeroBitCount  // >= 2
        let quarter = Int((value >> UInt64(log - 2)) & 3)
        return min(4 + (log - 2) * 4 + quarter, 195)
    }

    /// The smallest value of `bucket`.
    static func lowerBound(_ bucket: Int) -> UInt64 {
        if bucket < 4 { return UInt64(bucket) }
        let log = (bucket - 4) / 4 + 2
        let quarter = UInt64((bucket - 4) % 4)
        return (4 + quarter) << UInt64(log - 2)
    }

    /// Counts `value`.
    public mutating func add(_ value: UInt64) {
        counts[Self.bucket(value)] += 1
        total += 1
    }

    /// The value below which `fraction` of the counted values lie (the middle of its bucket); `nil` when
    /// empty.
    public func percentile(_ fraction: Double) -> UInt64? {
        guard total > 0 else { return nil }
        let rank = max(1, Int((fraction * Double(total)).rounded(.up)))
        var seen = 0
        for (bucket, count) in counts.enumerated() where count > 0 {
            seen += Int(count)
            if seen >= rank {
                let low = Self.lowerBound(bucket)
                let high = bucket + 1 < counts.count ? Self.lowerBound(bucket + 1) : low
                return bucket < 4 ? low : low + (high - low) / 2
            }
        }
        return nil
    }
}
