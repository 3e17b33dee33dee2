internal import CNetlink
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// What ``Scanner/kill(_:_:)`` did.
public struct KillSummary: Hashable, Sendable {
    /// Sockets the scan matched.
    public var matched = 0
    /// Sockets the kernel closed.
    public var closed = 0
    /// Sockets that were gone before their turn (closed meanwhile: `ENOENT`).
    public var gone = 0
    /// Sockets the kernel refused to close, by error.
    public var refused: [Errno: Int] = [:]

    /// Nothing done yet.
    public init() {}
}

extension Scanner {
    /// Closes one socket, as `ss -K` does: the kernel aborts it (a TCP peer gets a reset) and wakes its owner
    /// with `ECONNABORTED`.
    ///
    /// The socket is named by what a scan reported: protocol, family, addresses, ports, interface and cookie.
    /// The corresponding kernel request is `SOCK_DESTROY` with `inet_diag_req_v2`; the kernel needs
    /// `CONFIG_INET_DIAG_DESTROY` and the caller `CAP_NET_ADMIN`.
    /// - Throws: ``SockDiagError/kernel(_:)``: `EPERM` (``SockDiagError/Category/permission``: no
    ///   `CAP_NET_ADMIN`), `EOPNOTSUPP` (``SockDiagError/Category/unsupported``: a kernel built without
    ///   `CONFIG_INET_DIAG_DESTROY`), `ENOENT` (the socket is gone).
    public func destroy(_ socket: SocketRecord) throws(SockDiagError) {
        do {
            try state.withScanLock { (state: inout State) throws -> Void in try destroy(socket, &state) }
        } catch {
            throw SockDiagError.typed(error)
        }
    }

    /// Closes every socket a prepared scan matches: one dump collects them, then each is destroyed in turn
    /// (``destroy(_:)``), `report` called with each socket and what became of it.
    ///
    /// A kernel that cannot destroy sockets at all, or a caller without the capability, ends it at the
    /// first socket with that error. Sockets that closed on their own meanwhile count as ``KillSummary/gone``.
    /// - Throws: ``SockDiagError``.
    @discardableResult
    public func kill(
        _ scan: PreparedScan, _ report: (SocketRecord, Result<Void, SockDiagError>) -> Void = { _, _ in }
    ) throws(SockDiagError) -> KillSummary {
        var summary = KillSummary()
        var victims: [SocketRecord] = []
        do {
            try forEach(scan) { victims.append($0) }
            summary.matched = victims.count
            try state.withScanLock { (state: inout State) throws -> Void in
                for socket in victims {
                    do {
                        try destroy(socket, &state)
                        summary.closed += 1
                        report(socket, .success(()))
                    } catch let error as NetlinkError {
                        switch error.errno {
                        case .noSuchFileOrDirectory:
                            summary.gone += 1
                        case .notPermitted, .permissionDenied, .notSupported, .protocolNotSupported:
                            throw error  // the same for every socket: say it once
                        default:
                            summary.refused[error.errno, default: 0] += 1
                        }
                        report(socket, .failure(.kernel(error)))
                    }
                }
            }
        } catch {
            throw SockDiagError.typed(error)
        }
        return summary
    }

    /// Sends one `SOCK_DESTROY` request and waits for the kernel's answer, holding the scan lock.
    private func destroy(_ socket: SocketRecord, _ state: inout State) throws {
        let nl = try openSocket(&state)
        var id = cnl_socket_id()
        id.family = socket.family.rawValue
        id.protocol = socket.proto.rawValue
        id.sport = socket.local.port
        id.dport = socket.remote.port
        withUnsafeMutableBytes(of: &id.src) { socket.local.address.copyNetworkBytes(into: $0) }
        withUnsafeMutableBytes(of: &id.dst) { socket.remote.address.copyNetworkBytes(into: $0) }
        id.ifindex = socket.interfaceIndex
        id.cookie = socket.cookie
        id.states = StateSet(socket.state).rawValue
        state.sequence &+= 1
        let seq = state.sequence
        let operation = "destroy \(socket.proto) \(socket.local) -> \(socket.remote)"
        let length = cnl_sock_destroy_build(requestBuffer.baseAddress, requestBuffer.count, &id, seq)
        if length < 0 { throw NetlinkError(errno: Errno(rawValue: -length), operation: operation) }
        let sent = cnl_sock_diag_send(nl, requestBuffer.baseAddress, Int(length))
        if sent < 0 { throw NetlinkError(errno: Errno(rawValue: -sent), operation: operation) }
        let answer = cnl_sock_diag_ack(nl, seq, buffer.baseAddress, buffer.count)
        if answer == -EPROTO {
            closeSocket(&state)  // out of step: the next request opens a new socket
        }
        if answer < 0 { throw NetlinkError(errno: Errno(rawValue: -answer), operation: operation) }
    }
}

extension IPAddress {
    /// Writes the address in network byte order into the first 4 (IPv4) or 16 (IPv6) bytes of `bytes`.
    func copyNetworkBytes(into bytes: UnsafeMutableRawBufferPointer) {
        switch self {
        case .v4(let address):
            bytes.storeBytes(of: address.value.bigEndian, toByteOffset: 0, as: UInt32.self)
        case .v6(let address):
            bytes.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            bytes.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
    }
}
