internal import CNetlink
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Parsing of `inet_diag` dump replies: the netlink walk (in CNetlink) and `struct inet_diag_msg`
/// with its attributes (here), on a borrowed buffer. Every offset read comes from CNetlink, which checks it
/// against the kernel's header.
///
/// Not part of the library's API: the micro-benchmarks reach ``parse(_:sequence:portID:proto:_:)`` through
/// `@_spi(Benchmarks)`, the tests through `package` access.
@_spi(Benchmarks) public enum InetDiagDump {
    /// `sizeof(struct inet_diag_msg)`.
    package static let messageSize = Int(CNL_MSG_SIZE)

    /// Parses one `struct inet_diag_msg` and the attributes after it into a record.
    ///
    /// - Parameters:
    ///   - payload: the message payload (after the netlink header), borrowed.
    ///   - proto: the protocol the request asked for (the message does not say).
    ///   - offset: where the payload starts in the dump, for error messages.
    /// - Returns: the record, or `nil` for a family other than inet/inet6.
    /// - Throws: ``DumpParseError/truncated(offset:needed:available:)`` when the payload or an attribute is short.
    package static func parseMessage(
        _ payload: UnsafeRawBufferPointer, proto: TransportProtocol, offset: Int = 0
    ) throws(DumpParseError) -> SocketRecord? {
        guard payload.count >= messageSize else {
            throw .truncated(offset: offset, needed: messageSize, available: payload.count)
        }
        @inline(__always) func u16(_ offset: some BinaryInteger) -> UInt16 {
            payload.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self)
        }
        @inline(__always) func u32(_ offset: some BinaryInteger) -> UInt32 {
            payload.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self)
        }
        let familyByte = payload[Int(CNL_MSG_FAMILY)]
        let family: AddressFamily
        switch familyByte {
        case 2: family = .inet
        case 10: family = .inet6
        default: return nil
        }
        let local: IPAddress
        let remote: IPAddress
        if family == .inet {
            local = .v4(IPv4Address(UInt32(bigEndian: u32(CNL_MSG_SRC))))
            remote = .v4(IPv4Address(UInt32(bigEndian: u32(CNL_MSG_DST))))
        } else {
            let src = Int(CNL_MSG_SRC)
            let dst = Int(CNL_MSG_DST)
            local = .v6(IPv6Address(networkBytes: UnsafeRawBufferPointer(rebasing: payload[src..<(src + 16)])))
            remote = .v6(IPv6Address(networkBytes: UnsafeRawBufferPointer(rebasing: payload[dst..<(dst + 16)])))
        }
        let cookie = Int(CNL_MSG_COOKIE)
        let cookieLow = payload.loadUnaligned(fromByteOffset: cookie, as: UInt32.self)
        let cookieHigh = payload.loadUnaligned(fromByteOffset: cookie + 4, as: UInt32.self)
        var record = SocketRecord(
            proto: proto,
            family: family,
            state: TCPState(rawValue: payload[Int(CNL_MSG_STATE)]),
            local: Endpoint(address: local, port: UInt16(bigEndian: u16(CNL_MSG_SPORT))),
            remote: Endpoint(address: remote, port: UInt16(bigEndian: u16(CNL_MSG_DPORT))),
            receiveQueue: u32(CNL_MSG_RQUEUE),
            sendQueue: u32(CNL_MSG_WQUEUE),
            uid: u32(CNL_MSG_UID),
            inode: u32(CNL_MSG_INODE),
            cookie: UInt64(cookieHigh) << 32 | UInt64(cookieLow),
            interfaceIndex: u32(CNL_MSG_IF),
            timer: SocketTimer(
                kind: SocketTimerKind(rawValue: payload[Int(CNL_MSG_TIMER)]) ?? .unknown,
                expiresMilliseconds: u32(CNL_MSG_EXPIRES),
                retransmits: payload[Int(CNL_MSG_RETRANS)]
            )
        )
        var at = messageSize
        while at < payload.count {
            let available = payload.count - at
            guard available >= 4 else { throw .truncated(offset: offset + at, needed: 4, available: available) }
            let length = Int(payload.loadUnaligned(fromByteOffset: at, as: UInt16.self))
            let type = payload.loadUnaligned(fromByteOffset: at + 2, as: UInt16.self) & 0x3FFF
            guard length >= 4, length <= available else {
                throw .truncated(offset: offset + at, needed: max(length, 4), available: available)
            }
            let body = UnsafeRawBufferPointer(rebasing: payload[(at + 4)..<(at + length)])
            switch Int(type) {
            case Int(INET_DIAG_INFO) where record.proto == .tcp:
                record.tcpInfo = parseTCPInfo(body)
            case Int(INET_DIAG_SKMEMINFO):
                record.memory = parseMemory(body)
            case Int(INET_DIAG_SKV6ONLY) where body.count >= 1:
                record.v6Only = body[0] != 0
            case Int(INET_DIAG_PROTOCOL) where body.count >= 1:
                // Sent with destroy events (the request's protocol is not known there).
                switch body[0] {
                case TransportProtocol.tcp.rawValue: record.proto = .tcp
                case TransportProtocol.udp.rawValue: record.proto = .udp
                default: return nil  // another protocol (SCTP, raw): not ours
                }
            default:
                break
            }
            at += (length + 3) & ~3
        }
        return record
    }

    /// Checks one message exactly as ``parseMessage(_:proto:offset:)`` does and returns only its state:
    /// counting needs nothing else, so no record is built.
    ///
    /// - Returns: the state, or `nil` for a family other than inet/inet6 (skipped, as by `parseMessage`).
    /// - Throws: the errors `parseMessage` throws for the same bytes.
    static func messageState(_ payload: UnsafeRawBufferPointer, offset: Int = 0) throws(DumpParseError) -> TCPState? {
        guard payload.count >= messageSize else {
            throw .truncated(offset: offset, needed: messageSize, available: payload.count)
        }
        switch payload[Int(CNL_MSG_FAMILY)] {
        case 2, 10: break
        default: return nil
        }
        var at = messageSize
        while at < payload.count {
            let available = payload.count - at
            guard available >= 4 else { throw .truncated(offset: offset + at, needed: 4, available: available) }
            let length = Int(payload.loadUnaligned(fromByteOffset: at, as: UInt16.self))
            guard length >= 4, length <= available else {
                throw .truncated(offset: offset + at, needed: max(length, 4), available: available)
            }
            at += (length + 3) & ~3
        }
        return TCPState(rawValue: payload[Int(CNL_MSG_STATE)])
    }

    static func parseTCPInfo(_ b: UnsafeRawBufferPointer) -> TCPInfo {
        @inline(__always) func u8(_ o: Int32) -> UInt8 { Int(o) < b.count ? b[Int(o)] : 0 }
        @inline(__always) func u32(_ o: Int32) -> UInt32 {
            Int(o) + 4 <= b.count ? b.loadUnaligned(fromByteOffset: Int(o), as: UInt32.self) : 0
        }
        @inline(__always) func u64(_ o: Int32) -> UInt64 {
            Int(o) + 8 <= b.count ? b.loadUnaligned(fromByteOffset: Int(o), as: UInt64.self) : 0
        }
        var info = TCPInfo()
        info.retransmits = u8(Int32(CNL_TCPI_RETRANSMITS))
        info.rto = u32(Int32(CNL_TCPI_RTO))
        info.sendMSS = u32(Int32(CNL_TCPI_SND_MSS))
        info.receiveMSS = u32(Int32(CNL_TCPI_RCV_MSS))
        info.unacked = u32(Int32(CNL_TCPI_UNACKED))
        info.lost = u32(Int32(CNL_TCPI_LOST))
        info.rtt = u32(Int32(CNL_TCPI_RTT))
        info.rttvar = u32(Int32(CNL_TCPI_RTTVAR))
        info.ssthresh = u32(Int32(CNL_TCPI_SND_SSTHRESH))
        info.cwnd = u32(Int32(CNL_TCPI_SND_CWND))
        info.totalRetransmits = u32(Int32(CNL_TCPI_TOTAL_RETRANS))
        info.bytesAcked = u64(Int32(CNL_TCPI_BYTES_ACKED))
        info.bytesReceived = u64(Int32(CNL_TCPI_BYTES_RECEIVED))
        info.deliveryRate = u64(Int32(CNL_TCPI_DELIVERY_RATE))
        return info
    }

    static func parseMemory(_ b: UnsafeRawBufferPointer) -> SocketMemory {
        // u32 sk_meminfo[SK_MEMINFO_VARS], indices from <linux/sock_diag.h>.
        @inline(__always) func v(_ index: Int) -> UInt32 {
            let i = index
            return (i + 1) * 4 <= b.count ? b.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) : 0
        }
        var m = SocketMemory()
        m.receiveAllocated = v(SK_MEMINFO_RMEM_ALLOC)
        m.receiveBuffer = v(SK_MEMINFO_RCVBUF)
        m.sendAllocated = v(SK_MEMINFO_WMEM_ALLOC)
        m.sendBuffer = v(SK_MEMINFO_SNDBUF)
        m.forwardAllocated = v(SK_MEMINFO_FWD_ALLOC)
        m.sendQueued = v(SK_MEMINFO_WMEM_QUEUED)
        m.optionMemory = v(SK_MEMINFO_OPTMEM)
        m.backlog = v(SK_MEMINFO_BACKLOG)
        m.drops = v(SK_MEMINFO_DROPS)
        return m
    }

    /// What one dump walk saw.
    @_spi(Benchmarks) public struct WalkResult: Sendable, Hashable {
        /// Data messages parsed.
        public var messages: Int = 0
        /// Datagrams received.
        public var batches: Int = 0
        /// Bytes received.
        public var bytes: Int = 0
        /// Whether the kernel flagged the dump as interrupted (`NLM_F_DUMP_INTR`): the table changed while
        /// it was walked, so a socket may be missing or repeated.
        public var interrupted: Bool = false
    }

    /// Walks a dump already requested on `d`, calling `body` with each record.
    ///
    /// - Throws: ``NetlinkError`` for an errno from the kernel (including one carried by `NLMSG_DONE`),
    ///   ``DumpParseError`` for a reply that fails a check, or what `body` throws.
    static func walk(
        _ d: UnsafeMutablePointer<cnl_dump>, proto: TransportProtocol, operation: @autoclosure () -> String,
        _ body: (SocketRecord) throws -> Void
    ) throws -> WalkResult {
        try walk(d, proto: proto, operation: operation(), parse: parseMessage, body)
    }

    /// Walks a dump already requested on `d`, calling `body` with what `parse` makes of each data message
    /// (a record, or only a state when counting); `nil` from `parse` skips the message. Inlined into each
    /// caller so that `parse` is a direct call.
    @inline(__always)
    static func walk<Item>(
        _ d: UnsafeMutablePointer<cnl_dump>, proto: TransportProtocol, operation: @autoclosure () -> String,
        parse: (UnsafeRawBufferPointer, TransportProtocol, Int) throws(DumpParseError) -> Item?,
        _ body: (Item) throws -> Void
    ) throws -> WalkResult {
        var result = WalkResult()
        var payload: UnsafeRawPointer?
        var length: UInt32 = 0
        var type: UInt16 = 0
        while true {
            let rc = cnl_dump_next(d, &payload, &length, &type)
            if rc == 1 {
                result.messages += 1
                let buffer = UnsafeRawBufferPointer(start: payload, count: Int(length))
                let offset = Int(d.pointee.consumed) + (payload.map { $0 - UnsafeRawPointer(d.pointee.buf) } ?? 0)
                // Replies carry the request's type: SOCK_DIAG_BY_FAMILY (20) or TCPDIAG_GETSOCK (18).
                guard type == cnl_sock_diag_by_family() || type == cnl_tcpdiag_getsock() else {
                    d.pointee.flags |= UInt32(CNL_DUMP_F_DONE)
                    throw DumpParseError.unexpectedType(offset: offset - 16, type: type)
                }
                if let item = try parse(buffer, proto, offset) {
                    try body(item)
                }
                continue
            }
            result.batches = Int(d.pointee.batches)
            result.bytes = Int(d.pointee.bytes)
            result.interrupted = d.pointee.flags & UInt32(CNL_DUMP_F_INTR) != 0
            if rc == 0 { return result }
            let offset = Int(d.pointee.error_offset)
            if d.pointee.flags & UInt32(CNL_DUMP_F_MALFORMED) != 0 {
                switch -rc {
                case EPROTO: throw DumpParseError.foreignMessage(offset: offset)
                case ENODATA: throw DumpParseError.unterminated(offset: offset)
                default:
                    throw DumpParseError.truncated(
                        offset: offset, needed: Int(d.pointee.error_needed), available: Int(d.pointee.error_available))
                }
            }
            throw NetlinkError(errno: Errno(rawValue: -rc), operation: operation())
        }
    }

    /// Parses a captured dump (one or more netlink messages ending with `NLMSG_DONE`), calling `body` with
    /// each record. For tests and benchmarks on fixed bytes.
    ///
    /// - Parameters:
    ///   - bytes: the datagram bytes as the kernel sent them.
    ///   - sequence: the sequence number every message must carry.
    ///   - portID: the port id messages must carry (0 in a message is accepted).
    /// - Throws: as `forEach(_:_:)` does: the errno of `NLMSG_ERROR` or `NLMSG_DONE` as
    ///   ``NetlinkError``, a bad length as ``DumpParseError``.
    @_spi(Benchmarks) public static func parse(
        _ bytes: UnsafeRawBufferPointer, sequence: UInt32, portID: UInt32 = 0, proto: TransportProtocol = .tcp,
        _ body: (SocketRecord) throws -> Void
    ) throws -> WalkResult {
        var d = cnl_dump()
        cnl_dump_begin_bytes(&d, bytes.baseAddress, bytes.count, sequence, portID)
        return try walk(&d, proto: proto, operation: "dump \(proto)", body)
    }
}
