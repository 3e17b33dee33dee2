import SockDiag

/// Socket counts grouped by one attribute (state, an address, a port, the owning process), computed
/// while records stream by: one dictionary entry per distinct value, nothing kept per socket.
///
/// What `sockscan count --by` prints: the questions `ss` cannot answer in one command ("which remote
/// port has most TIME_WAIT sockets?").
///
/// ```swift
/// var breakdown = SocketBreakdown(by: .remotePort)
/// try scanner.forEach(query) { breakdown.add($0) }
/// for group in breakdown.groups() { print(group.key, group.count) }
/// ```
///
/// Grouping by process needs the owners, which cost a walk of `/proc/*/fd`: ``add(_:)`` then keeps the
/// inodes only, and ``attribute(using:)`` turns them into groups once the table is built from
/// ``pendingInodes`` (one kernel pass).
public struct SocketBreakdown: Sendable {
    /// What sockets are grouped by.
    public enum Dimension: String, Sendable, Hashable, CaseIterable {
        /// The TCP state (`established`, …).
        case state
        /// The local address.
        case localAddress = "local"
        /// The remote address.
        case remoteAddress = "remote"
        /// The local port.
        case localPort = "sport"
        /// The remote port.
        case remotePort = "dport"
        /// The owning process (the lowest pid when several share the socket).
        case process
    }

    /// One group's value.
    public enum Key: Hashable, Sendable, Comparable, CustomStringConvertible {
        case state(TCPState)
        case address(IPAddress)
        case port(UInt16)
        /// A process: `comm[pid]`.
        case process(pid: Int32, comm: String)
        /// Sockets no visible process holds: TIME_WAIT and SYN_RECV minisockets (inode 0), sockets of
        /// processes this user may not inspect, sockets closed since the scan.
        case noProcess

        public var description: String {
            switch self {
            case .state(let state): state.name
            case .address(let address): address.description
            case .port(let port): String(port)
            case .process(let pid, let comm): "\(comm)[\(pid)]"
            case .noProcess: "-"
            }
        }

        /// States in kernel order, addresses IPv4 first then numerically, ports numerically, processes by
        /// pid, the unowned last.
        public static func < (lhs: Key, rhs: Key) -> Bool {
            switch (lhs, rhs) {
            case (.state(let a), .state(let b)): return a < b
            case (.port(let a), .port(let b)): return a < b
            case (.address(.v4(let a)), .address(.v4(let b))): return a < b
            case (.address(.v6(let a)), .address(.v6(let b))): return a < b
            case (.address(.v4), .address(.v6)): return true
            case (.address(.v6), .address(.v4)): return false
            case (.process(let a, let ac), .process(let b, let bc)): return (a, ac) < (b, bc)
            default: return lhs.rank < rhs.rank
            }
        }

        private var rank: Int {
            switch self {
            case .state: 0
            case .address: 1
            case .port: 2
            case .process: 3
            case .noProcess: 4
            }
        }
    }

    /// A value and how many sockets have it.
    public struct Group: Hashable, Sendable {
        public var key: Key
        public var count: UInt64

        public init(key: Key, count: UInt64) {
            self.key = key
            self.count = count
        }
    }

    /// What ``groups(top:)`` returns: the largest groups, and what the rest add up to.
    public struct Ranking: Hashable, Sendable {
        /// The groups shown, largest first (ties in key order).
        public var groups: [Group]
        /// How many groups were left out by `top`.
        public var otherGroups: Int
        /// How many sockets those groups hold.
        public var otherCount: UInt64
    }

    /// The attribute grouped by.
    public let dimension: Dimension
    /// Sockets counted.
    public private(set) var total: UInt64 = 0
    /// The count per value.
    public private(set) var counts: [Key: UInt64] = [:]
    /// With ``Dimension/process``: the inodes waiting for ``attribute(using:)``.
    public private(set) var pendingInodes: Set<UInt32> = []

    public init(by dimension: Dimension) {
        self.dimension = dimension
    }

    /// Counts one socket.
    public mutating func add(_ record: SocketRecord) {
        total += 1
        let key: Key
        switch dimension {
        case .state: key = .state(record.state)
        case .localAddress: key = .address(record.local.address)
        case .remoteAddress: key = .address(record.remote.address)
        case .localPort: key = .port(record.local.port)
        case .remotePort: key = .port(record.remote.port)
        case .process:
            // 0 has no owner (a minisocket). A socket reported twice (a dump interrupted by churn) counts once.
            if record.inode != 0 {
                if !pendingInodes.insert(record.inode).inserted { total -= 1 }
                return
            }
            key = .noProcess
        }
        counts[key, default: 0] += 1
    }

    /// With ``Dimension/process``: groups the sockets counted so far by their first owner in `owners`
    /// (a table built from ``pendingInodes``); sockets it does not know go to ``Key/noProcess``.
    public mutating func attribute(using owners: ProcessTable) {
        counts.reserveCapacity(counts.count + min(pendingInodes.count, 1024))
        for inode in pendingInodes {
            if let owner = owners.firstOwner(of: inode) {
                counts[.process(pid: owner.pid, comm: owner.comm), default: 0] += 1
            } else {
                counts[.noProcess, default: 0] += 1
            }
        }
        pendingInodes = []
    }

    /// The groups, largest first (ties in key order); with `top`, only that many, the rest summed up.
    public func groups(top: Int? = nil) -> Ranking {
        let sorted = counts.map { Group(key: $0.key, count: $0.value) }.sorted {
            $0.count != $1.count ? $0.count > $1.count : $0.key < $1.key
        }
        guard let top, top < sorted.count else { return Ranking(groups: sorted, otherGroups: 0, otherCount: 0) }
        let rest = sorted[top...]
        return Ranking(
            groups: Array(sorted.prefix(top)), otherGroups: rest.count, otherCount: rest.reduce(0) { $0 + $1.count })
    }
}
