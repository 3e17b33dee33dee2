import Foundation
import SockDiag

/// A known mix of TCP and UDP sockets made with plain POSIX calls inside a ``TestNamespace``, and the
/// exact set of tuples a correct scan of that namespace returns.
///
/// Every socket is created on a thread inside the namespace; the descriptors stay open (and the states
/// stay put) until ``close()``. Only loopback addresses are used.
///
/// | what | local | remote | states |
/// |---|---|---|---|
/// | TCP/IPv4 listeners | 127.0.0.1:7001, 0.0.0.0:7002 | 0.0.0.0:* | LISTEN |
/// | TCP/IPv4 pairs | to 7001 and 7002 | | ESTAB ×2 each |
/// | TCP/IPv4 half-closed pair | server shut down its sending side | | FIN-WAIT-2 + CLOSE-WAIT |
/// | TCP/IPv4 closed pairs ×2 | client closed first | | TIME-WAIT (client side) |
/// | TCP/IPv6 | [::1]:7006 listener, a pair, a half-closed pair, a closed pair | | as above |
/// | UDP/IPv4 | 127.0.0.1:7101, 0.0.0.0:7104 bound; 127.0.0.1:7102 connected to 7101 | | UNCONN, ESTAB |
/// | UDP/IPv6 | [::1]:7103 bound | [::]:* | UNCONN |
/// | bulk | `extraPairs` pairs to 127.0.0.1:7010 | | ESTAB |
public final class SocketMix: @unchecked Sendable {
    public static let tcp4LoopbackPort: UInt16 = 7001
    public static let tcp4AnyPort: UInt16 = 7002
    public static let tcp6Port: UInt16 = 7006
    public static let bulkPort: UInt16 = 7010
    public static let udp4Port: UInt16 = 7101
    public static let udp4ConnectedPort: UInt16 = 7102
    public static let udp6Port: UInt16 = 7103
    public static let udp4AnyPort: UInt16 = 7104

    /// Every socket the namespace holds, as a correct scan reports it.
    public let expected: Set<SocketTuple>
    /// The inode (`fstat` of the descriptor) of every socket still held open; TIME_WAIT sockets have none.
    public let inodes: [SocketTuple: UInt32]
    /// The namespace the sockets live in.
    public let namespace: TestNamespace

    private let lock = NSLock()
    private var descriptors: [Int32]

    /// Builds the mix and waits (at most `settleTimeout` seconds) until every socket reached its state.
    ///
    /// - Parameters:
    ///   - namespace: where to make the sockets (private: only these sockets may be in it).
    ///   - extraPairs: established pairs to add so a dump spans several 32 KiB batches (2 descriptors each).
    /// - Throws: ``SystemCallError`` for a failed call, ``CommandError`` when the states did not settle;
    ///   every descriptor made so far is closed first.
    public init(in namespace: TestNamespace, extraPairs: Int = 0, settleTimeout: Double = 3) throws {
        try Limits.ensureOpenFiles(extraPairs * 2 + 256)
        let built = try namespace.run { () throws -> Built in
            let builder = Builder()
            do {
                try builder.build(extraPairs: extraPairs, settleTimeout: settleTimeout)
            } catch {
                for fd in builder.fds { Glibc.close(fd) }
                throw error
            }
            return Built(fds: builder.fds, expected: builder.expected, inodes: builder.inodes)
        }
        self.namespace = namespace
        descriptors = built.fds
        expected = built.expected
        inodes = built.inodes
    }

    deinit { close() }

    /// Closes every descriptor (the namespace keeps the TIME_WAIT sockets until it goes).
    public func close() {
        let fds = lock.withLock {
            defer { descriptors = [] }
            return descriptors
        }
        for fd in fds { Glibc.close(fd) }
    }

    /// The expected tuples that satisfy `predicate`.
    public func expected(where predicate: (SocketTuple) -> Bool) -> Set<SocketTuple> {
        expected.filter(predicate)
    }

    /// The expected tuples of protocol `proto`.
    public func expected(_ proto: TransportProtocol) -> Set<SocketTuple> { expected { $0.proto == proto } }

    /// Expected tuple counts per state for `proto`.
    public func counts(_ proto: TransportProtocol) -> [TCPState: Int] { expected(proto).countsByState() }
}

private struct Built: Sendable {
    var fds: [Int32]
    var expected: Set<SocketTuple>
    var inodes: [SocketTuple: UInt32]
}

/// Makes the sockets on the namespace thread and records what it made.
private final class Builder {
    var fds: [Int32] = []
    var expected: Set<SocketTuple> = []
    var inodes: [SocketTuple: UInt32] = [:]
    /// (fd, TCP state it must reach) for sockets whose state moves after the calls return.
    var pending: [(Int32, TCPState)] = []

    let lo4 = IPAddress.v4(.loopback)
    let any4 = IPAddress.v4(.any)
    let lo6 = IPAddress.v6(.loopback)
    let any6 = IPAddress.v6(.any)

    func build(extraPairs: Int, settleTimeout: Double) throws {
        let l1 = try listener(Endpoint(address: lo4, port: SocketMix.tcp4LoopbackPort))
        let l2 = try listener(Endpoint(address: any4, port: SocketMix.tcp4AnyPort))
        let l6 = try listener(Endpoint(address: lo6, port: SocketMix.tcp6Port))
        let target1 = Endpoint(address: lo4, port: SocketMix.tcp4LoopbackPort)
        let target2 = Endpoint(address: lo4, port: SocketMix.tcp4AnyPort)
        let target6 = Endpoint(address: lo6, port: SocketMix.tcp6Port)

        // Established pairs.
        _ = try pair(l1, to: target1)
        _ = try pair(l2, to: target2)
        _ = try pair(l6, to: target6)

        // Half-closed: the server sends FIN and keeps its descriptor (FIN-WAIT-2); the client has
        // received the FIN and not closed (CLOSE-WAIT).
        for (l, target) in [(l1, target1), (l6, target6)] {
            let (client, server) = try pair(l, to: target, record: false)
            try check(shutdown(server, Int32(SHUT_WR)), "shutdown SHUT_WR")
            try record(server, .finWait2)
            try record(client, .closeWait)
            pending += [(server, .finWait2), (client, .closeWait)]
        }

        // TIME_WAIT: the client closes first (FIN-WAIT-2 there, CLOSE-WAIT at the server), then the
        // server closes (LAST-ACK, gone on the client's ACK) and the client ends in TIME-WAIT.
        for (l, target) in [(l1, target1), (l1, target1), (l6, target6)] {
            let (client, server) = try pair(l, to: target, record: false)
            let local = try endpoint(client, peer: false)
            let remote = try endpoint(client, peer: true)
            forget(client)
            Glibc.close(client)
            try waitForState(server, .closeWait, timeout: settleTimeout)
            forget(server)
            Glibc.close(server)
            expected.insert(
                SocketTuple(
                    proto: .tcp, family: local.address.family, state: .timeWait, local: local, remote: remote))
        }

        // UDP: bound and unconnected (state close, ss's UNCONN), and connected (established).
        let u1 = try udp(bind: Endpoint(address: lo4, port: SocketMix.udp4Port))
        try record(u1, .close)
        let u2 = try udp(bind: Endpoint(address: lo4, port: SocketMix.udp4ConnectedPort))
        try connectTo(u2, Endpoint(address: lo4, port: SocketMix.udp4Port))
        try record(u2, .established)
        let u3 = try udp(bind: Endpoint(address: lo6, port: SocketMix.udp6Port))
        try record(u3, .close)
        let u4 = try udp(bind: Endpoint(address: any4, port: SocketMix.udp4AnyPort))
        try record(u4, .close)

        if extraPairs > 0 {
            let bulk = try listener(Endpoint(address: lo4, port: SocketMix.bulkPort), backlog: 1024)
            let target = Endpoint(address: lo4, port: SocketMix.bulkPort)
            for _ in 0..<extraPairs { _ = try pair(bulk, to: target) }
        }

        for (fd, state) in pending { try waitForState(fd, state, timeout: settleTimeout) }
        try waitForProcStates(timeout: settleTimeout)
    }

    // MARK: sockets

    func adopt(_ fd: Int32, _ what: String) throws -> Int32 {
        guard fd >= 0 else { throw SystemCallError(what) }
        fds.append(fd)
        return fd
    }

    func forget(_ fd: Int32) { fds.removeAll { $0 == fd } }

    func check(_ rc: Int32, _ what: String) throws {
        if rc < 0 { throw SystemCallError(what) }
    }

    func listener(_ at: Endpoint, backlog: Int32 = 128) throws -> Int32 {
        let fd = try adopt(
            socket(at.address.family == .inet ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0),
            "socket tcp")
        try bindTo(fd, at)
        try check(listen(fd, backlog), "listen \(at)")
        try record(fd, .listen)
        return fd
    }

    func udp(bind at: Endpoint) throws -> Int32 {
        let fd = try adopt(
            socket(at.address.family == .inet ? AF_INET : AF_INET6, Int32(SOCK_DGRAM.rawValue), 0), "socket udp")
        try bindTo(fd, at)
        return fd
    }

    /// Connects a new client to `target` and accepts it on `listener`: returns (client, server).
    func pair(_ listener: Int32, to target: Endpoint, record recordBoth: Bool = true) throws -> (Int32, Int32) {
        let client = try adopt(
            socket(target.address.family == .inet ? AF_INET : AF_INET6, Int32(SOCK_STREAM.rawValue), 0),
            "socket tcp")
        try connectTo(client, target)
        let server = try adopt(accept(listener, nil, nil), "accept on \(target)")
        if recordBoth {
            try record(client, .established)
            try record(server, .established)
        }
        return (client, server)
    }

    /// Records the socket behind `fd` as expected in `state`, with its inode.
    func record(_ fd: Int32, _ state: TCPState) throws {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try check(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length), "getsockopt SO_TYPE")
        let local = try endpoint(fd, peer: false)
        var remote = Endpoint(address: local.address.family == .inet ? any4 : any6, port: 0)
        if state != .listen && state != .close { remote = try endpoint(fd, peer: true) }
        let tuple = SocketTuple(
            proto: type == Int32(SOCK_STREAM.rawValue) ? .tcp : .udp, family: local.address.family, state: state,
            local: local, remote: remote)
        var st = stat()
        try check(fstat(fd, &st), "fstat")
        expected.insert(tuple)
        inodes[tuple] = UInt32(truncatingIfNeeded: st.st_ino)
    }

    func bindTo(_ fd: Int32, _ at: Endpoint) throws {
        let rc = at.withSockaddr { bind(fd, $0, $1) }
        try check(rc, "bind \(at)")
    }

    func connectTo(_ fd: Int32, _ target: Endpoint) throws {
        var rc: Int32
        repeat { rc = target.withSockaddr { connect(fd, $0, $1) } } while rc < 0 && errno == EINTR
        try check(rc, "connect \(target)")
    }

    /// The local (or peer) address of `fd`.
    func endpoint(_ fd: Int32, peer: Bool) throws -> Endpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
            }
        }
        try check(rc, peer ? "getpeername" : "getsockname")
        let family = Int32(storage.ss_family)
        return withUnsafeBytes(of: &storage) { raw in
            if family == AF_INET {
                let sin = raw.loadUnaligned(as: sockaddr_in.self)
                return Endpoint(
                    address: .v4(IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr))),
                    port: UInt16(bigEndian: sin.sin_port))
            }
            let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
            let address = withUnsafeBytes(of: sin6.sin6_addr) { IPv6Address(networkBytes: $0) }
            return Endpoint(address: .v6(address), port: UInt16(bigEndian: sin6.sin6_port))
        }
    }

    // MARK: waiting

    /// The TCP state of `fd` from `getsockopt(TCP_INFO)` (`tcpi_state`, the first byte).
    func tcpState(_ fd: Int32) throws -> TCPState {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        let rc = info.withUnsafeMutableBytes { getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, $0.baseAddress, &length) }
        try check(rc, "getsockopt TCP_INFO")
        return TCPState(rawValue: info[0])
    }

    func waitForState(_ fd: Int32, _ state: TCPState, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var current = try tcpState(fd)
        var rounds = 0
        while current != state && Date() < deadline && rounds < 10_000 {
            usleep(1_000)
            rounds += 1
            current = try tcpState(fd)
        }
        if current != state {
            throw CommandError("socket \(fd) stayed in \(current) instead of reaching \(state) within \(timeout) s")
        }
    }

    /// Waits until `/proc/thread-self/net/tcp{,6}` show exactly the expected number of sockets per state
    /// (the closing sides in LAST-ACK gone, every TIME-WAIT there), read with a parser of its own.
    func waitForProcStates(timeout: Double) throws {
        var want: [UInt8: Int] = [:]
        for tuple in expected where tuple.proto == .tcp { want[tuple.state.rawValue, default: 0] += 1 }
        let deadline = Date().addingTimeInterval(timeout)
        var seen: [UInt8: Int] = [:]
        var rounds = 0
        repeat {
            seen = [:]
            for file in ["tcp", "tcp6"] {
                let text = try readText("/proc/thread-self/net/\(file)")
                for line in text.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                    if fields.count > 3, let state = UInt8(fields[3], radix: 16) { seen[state, default: 0] += 1 }
                }
            }
            if seen == want { return }
            usleep(5_000)
            rounds += 1
        } while Date() < deadline && rounds < 2_000
        func show(_ d: [UInt8: Int]) -> String {
            d.sorted { $0.key < $1.key }.map { "\(TCPState(rawValue: $0.key)): \($0.value)" }.joined(separator: ", ")
        }
        throw CommandError("TCP states did not settle in \(timeout) s: want \(show(want)); /proc shows \(show(seen))")
    }
}

/// The open-files limit of this process.
enum Limits {
    /// Raises the soft `RLIMIT_NOFILE` towards the hard limit when fewer than `needed` more descriptors
    /// may be open (the machine caps it at 20,000).
    static func ensureOpenFiles(_ needed: Int) throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw SystemCallError("getrlimit") }
        let want = rlim_t(needed + 1024)
        if limit.rlim_cur >= want { return }
        limit.rlim_cur = min(max(limit.rlim_cur, want), limit.rlim_max)
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 { throw SystemCallError("setrlimit") }
    }
}
