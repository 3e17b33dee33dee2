import Foundation
import SockDiag

/// Real TCP and UDP sockets in a test namespace, made with POSIX calls: listeners, connections until
/// `connect()` runs out of ports, client-first closes that leave TIME_WAIT. Every fd it makes is closed by
/// ``close()`` (or when it is released); every loop and wait is bounded.
public final class PortLoad: @unchecked Sendable {
    /// Where the sockets are made.
    public let namespace: TestNamespace
    private let lock = NSLock()
    private var fds: Set<Int32> = []

    /// A load with nothing open yet, in `namespace`.
    public init(in namespace: TestNamespace) { self.namespace = namespace }

    deinit { close() }

    /// Closes every fd still open.
    public func close() {
        let open = lock.withLock {
            defer { fds.removeAll() }
            return fds
        }
        for fd in open { Glibc.close(fd) }
    }

    /// Sets a sysctl of the namespace (`net/ipv4/ip_local_port_range`) and reads it back.
    public func sysctl(_ key: String, _ value: String) throws {
        try namespace.run {
            let path = "/proc/sys/\(key)"
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SystemCallError("open \(path)") }
            let bytes = Array((value + "\n").utf8)
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let saved = errno
            Glibc.close(fd)
            guard n == bytes.count else { throw SystemCallError("write \(path) '\(value)'", errno: saved) }
        }
    }

    /// A TCP listener on `address:port` (port 0: the kernel picks one by `bind()`).
    public func listener(_ address: String, _ port: UInt16) throws -> (fd: Int32, port: UInt16) {
        let fd = try socket(SOCK_STREAM, family: address.contains(":") ? AF_INET6 : AF_INET)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        try check(withAddress(address, port) { bind(fd, $0, $1) }, "bind \(address):\(port)")
        try check(listen(fd, 512), "listen \(address):\(port)")
        return (fd, try localPort(fd))
    }

    /// A TCP socket bound to `address:port`, neither listening nor connected.
    public func boundTCP(_ address: String, _ port: UInt16) throws -> Int32 {
        let fd = try socket(SOCK_STREAM)
        try check(withAddress(address, port) { bind(fd, $0, $1) }, "bind \(address):\(port)")
        return fd
    }

    /// A TCP socket bound explicitly to `address:bindPort`, then connected to `remote:port` and accepted.
    public func boundConnect(_ address: String, _ bindPort: UInt16, to remote: String, _ port: UInt16, listener: Int32)
        throws -> (client: Int32, server: Int32)
    {
        let client = try boundTCP(address, bindPort)
        try check(withAddress(remote, port) { Glibc.connect(client, $0, $1) }, "connect \(remote):\(port)")
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else { throw SystemCallError("poll accept", errno: ETIMEDOUT) }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { throw SystemCallError("accept \(remote):\(port)") }
        adopt(server)
        return (client, server)
    }

    /// A UDP socket bound to `address:port`.
    public func udp(_ address: String, _ port: UInt16) throws -> Int32 {
        let fd = try socket(SOCK_DGRAM)
        try check(withAddress(address, port) { bind(fd, $0, $1) }, "bind udp \(address):\(port)")
        return fd
    }

    /// Connects an unbound socket to `address:port` and accepts it on `listener`.
    ///
    /// - Returns: the client and server fds, or `nil` when `connect()` fails with `EADDRNOTAVAIL`.
    /// - Throws: on any other failure.
    public func connect(_ address: String, _ port: UInt16, listener: Int32) throws -> (client: Int32, server: Int32)? {
        let client = try socket(SOCK_STREAM, family: address.contains(":") ? AF_INET6 : AF_INET)
        let rc = withAddress(address, port) { Glibc.connect(client, $0, $1) }
        if rc != 0 {
            let err = errno
            closeOne(client)
            if err == EADDRNOTAVAIL { return nil }
            throw SystemCallError("connect \(address):\(port)", errno: err)
        }
        // On loopback the handshake is done when connect() returns; wait (bounded) for the accept queue anyway.
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else {
            throw SystemCallError("poll accept \(address):\(port)", errno: ETIMEDOUT)
        }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { throw SystemCallError("accept \(address):\(port)") }
        adopt(server)
        return (client, server)
    }

    /// Opens connections to `address:port` until `connect()` fails with `EADDRNOTAVAIL` (at most `limit`).
    ///
    /// - Throws: ``CommandError`` when `limit` connections all succeed.
    public func exhaust(_ address: String, _ port: UInt16, listener: Int32, limit: Int = 1000) throws -> [(
        client: Int32, server: Int32
    )] {
        var pairs: [(client: Int32, server: Int32)] = []
        for _ in 0..<limit {
            guard let pair = try connect(address, port, listener: listener) else { return pairs }
            pairs.append(pair)
        }
        throw CommandError("\(limit) connections to \(address):\(port) all succeeded; the range is not narrow")
    }

    /// Closes the client first, then the server, so the client end sits in TIME_WAIT.
    public func closeClientFirst(_ pair: (client: Int32, server: Int32)) throws {
        closeOne(pair.client)
        // Wait (bounded) for our FIN to be acknowledged: the server then sees end of file.
        var pfd = pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 2000) == 1 else { throw SystemCallError("poll FIN", errno: ETIMEDOUT) }
        closeOne(pair.server)
    }

    /// Closes one fd this load made.
    public func closeOne(_ fd: Int32) {
        let owned = lock.withLock { fds.remove(fd) != nil }
        if owned { Glibc.close(fd) }
    }

    // MARK: helpers

    /// A socket made on a thread inside the namespace (so it belongs there).
    private func socket(_ type: __socket_type, family: Int32 = AF_INET) throws -> Int32 {
        let fd = try namespace.run { () throws -> Int32 in
            let fd = Glibc.socket(family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError("socket") }
            return fd
        }
        adopt(fd)
        return fd
    }

    private func adopt(_ fd: Int32) { _ = lock.withLock { fds.insert(fd) } }

    private func check(_ rc: Int32, _ what: String) throws {
        if rc != 0 { throw SystemCallError(what) }
    }

    private func localPort(_ fd: Int32) throws -> UInt16 {
        var address = sockaddr_in6()  // sin_port and sin6_port sit at the same offset
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try check(rc, "getsockname")
        return UInt16(bigEndian: address.sin6_port)
    }

    /// Calls `body` with `text:port` as a `sockaddr_in`, or a `sockaddr_in6` when `text` holds a colon.
    private func withAddress(_ text: String, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32)
        -> Int32
    {
        if text.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, text, &address.sin6_addr) == 1 else { return -1 }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, text, &address.sin_addr) == 1 else { return -1 }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
