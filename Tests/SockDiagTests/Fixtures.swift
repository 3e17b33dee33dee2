import CNetlink

#if canImport(Glibc)
    import Glibc
#endif

/// Assembles fixture bytes field by field, the way the kernel lays them out: integers in host order
/// unless the method says network order (`be16`, `be32`).
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) } }
    mutating func be16(_ v: UInt16) { u16(v.bigEndian) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) } }
    mutating func be32(_ v: UInt32) { u32(v.bigEndian) }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) } }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func zeros(_ n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }
    /// NLMSG_ALIGN / NLA_ALIGN padding.
    mutating func align4() { zeros((4 - bytes.count % 4) % 4) }
}

/// Reads host-order integers back out of built bytes (request tests).
extension Array where Element == UInt8 {
    func u16(at o: Int) -> UInt16 { withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt16.self) } }
    func be16(at o: Int) -> UInt16 { UInt16(bigEndian: u16(at: o)) }
    func u32(at o: Int) -> UInt32 { withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
}

enum Netlink {
    static let noop: UInt16 = 1  // NLMSG_NOOP
    static let error: UInt16 = 2  // NLMSG_ERROR
    static let done: UInt16 = 3  // NLMSG_DONE
    static let overrun: UInt16 = 4  // NLMSG_OVERRUN
    static let sockDiagByFamily: UInt16 = 20  // SOCK_DIAG_BY_FAMILY
    static let tcpdiagGetsock: UInt16 = 18  // TCPDIAG_GETSOCK
    static let multi: UInt16 = 0x2  // NLM_F_MULTI
    static let dumpIntr: UInt16 = 0x10  // NLM_F_DUMP_INTR
    static let sequence: UInt32 = 0x5EC0_0001
    static let portID: UInt32 = 4242
}

/// One netlink message: the 16-byte `struct nlmsghdr`, the payload, padding to 4 bytes.
func netlinkMessage(
    type: UInt16, flags: UInt16 = Netlink.multi, seq: UInt32 = Netlink.sequence, pid: UInt32 = Netlink.portID,
    length: UInt32? = nil, payload: [UInt8]
) -> [UInt8] {
    var w = ByteWriter()
    w.u32(length ?? UInt32(16 + payload.count))  // nlmsg_len: header + payload, without the padding
    w.u16(type)  // nlmsg_type
    w.u16(flags)  // nlmsg_flags
    w.u32(seq)  // nlmsg_seq: the request's sequence number
    w.u32(pid)  // nlmsg_pid: our port id
    w.raw(payload)  // payload
    w.align4()  // NLMSG_ALIGN padding
    return w.bytes
}

/// `NLMSG_DONE`, whose payload is an int: 0, or `-errno` when the dump failed.
func doneMessage(errno: Int32 = 0, seq: UInt32 = Netlink.sequence, flags: UInt16 = Netlink.multi) -> [UInt8] {
    var w = ByteWriter()
    w.i32(-errno)  // int: 0 or -errno
    return netlinkMessage(type: Netlink.done, flags: flags, seq: seq, payload: w.bytes)
}

/// `NLMSG_ERROR`: `struct nlmsgerr` = int error, then the header of the request it answers.
func errorMessage(errno: Int32) -> [UInt8] {
    var w = ByteWriter()
    w.i32(-errno)  // error: -errno (0 is an acknowledgement)
    w.u32(72)  // msg.nlmsg_len of our request
    w.u16(Netlink.sockDiagByFamily)  // msg.nlmsg_type
    w.u16(0x301)  // msg.nlmsg_flags: NLM_F_REQUEST | NLM_F_DUMP
    w.u32(Netlink.sequence)  // msg.nlmsg_seq
    w.u32(0)  // msg.nlmsg_pid
    return netlinkMessage(type: Netlink.error, flags: 0, payload: w.bytes)
}

/// One `struct nlattr` with its payload and padding.
func attribute(type: UInt16, length: UInt16? = nil, _ payload: [UInt8]) -> [UInt8] {
    var w = ByteWriter()
    w.u16(length ?? UInt16(4 + payload.count))  // nla_len: header + payload, without the padding
    w.u16(type)  // nla_type
    w.raw(payload)  // payload
    w.align4()  // NLA_ALIGN padding
    return w.bytes
}

/// The fields of one `struct inet_diag_msg`, written in kernel layout by ``bytes``.
struct DiagMessage {
    var family: UInt8 = 2
    var state: UInt8 = 1
    var timer: UInt8 = 0
    var retransmits: UInt8 = 0
    var sourcePort: UInt16 = 0
    var destinationPort: UInt16 = 0
    /// Address bytes in network order: 4 for IPv4 (the kernel zero-fills the rest), 16 for IPv6.
    var source: [UInt8] = [0, 0, 0, 0]
    var destination: [UInt8] = [0, 0, 0, 0]
    var interface: UInt32 = 0
    var cookieLow: UInt32 = 0
    var cookieHigh: UInt32 = 0
    var expires: UInt32 = 0
    var receiveQueue: UInt32 = 0
    var sendQueue: UInt32 = 0
    var uid: UInt32 = 0
    var inode: UInt32 = 0
    /// Attributes after the struct, each from ``attribute(type:length:_:)``.
    var attributes: [[UInt8]] = []

    var bytes: [UInt8] {
        var w = ByteWriter()
        w.u8(family)  // 0  idiag_family
        w.u8(state)  // 1  idiag_state
        w.u8(timer)  // 2  idiag_timer
        w.u8(retransmits)  // 3  idiag_retrans
        w.be16(sourcePort)  // 4  id.idiag_sport, network order
        w.be16(destinationPort)  // 6  id.idiag_dport, network order
        w.raw(source + Array(repeating: 0, count: 16 - source.count))  // 8  id.idiag_src[4]
        w.raw(destination + Array(repeating: 0, count: 16 - destination.count))  // 24 id.idiag_dst[4]
        w.u32(interface)  // 40 id.idiag_if
        w.u32(cookieLow)  // 44 id.idiag_cookie[0]
        w.u32(cookieHigh)  // 48 id.idiag_cookie[1]
        w.u32(expires)  // 52 idiag_expires, ms
        w.u32(receiveQueue)  // 56 idiag_rqueue
        w.u32(sendQueue)  // 60 idiag_wqueue
        w.u32(uid)  // 64 idiag_uid
        w.u32(inode)  // 68 idiag_inode
        precondition(w.bytes.count == 72)
        for a in attributes { w.raw(a) }  // 72 attributes
        return w.bytes
    }

    /// This message as a netlink message of a dump reply.
    func message(flags: UInt16 = Netlink.multi, seq: UInt32 = Netlink.sequence) -> [UInt8] {
        netlinkMessage(type: Netlink.sockDiagByFamily, flags: flags, seq: seq, payload: bytes)
    }
}

/// A `struct tcp_info` of `size` bytes (older kernels send fewer) with known values at the offsets
/// SockDiag reads; fields beyond `size` are cut off as an older kernel would.
func tcpInfoBytes(size: Int = 232) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 232)
    func put<T: FixedWidthInteger>(_ v: T, _ offset: Int) {
        withUnsafeBytes(of: v) { for (i, x) in $0.enumerated() { b[Int(offset) + i] = x } }
    }
    put(UInt8(1), CNL_TCPI_STATE)  // tcpi_state: ESTABLISHED
    put(UInt8(0), CNL_TCPI_CA_STATE)  // tcpi_ca_state: open
    put(UInt8(3), CNL_TCPI_RETRANSMITS)  // tcpi_retransmits
    put(UInt32(204_000), CNL_TCPI_RTO)  // tcpi_rto, us
    put(UInt32(1448), CNL_TCPI_SND_MSS)  // tcpi_snd_mss
    put(UInt32(536), CNL_TCPI_RCV_MSS)  // tcpi_rcv_mss
    put(UInt32(2), CNL_TCPI_UNACKED)  // tcpi_unacked
    put(UInt32(1), CNL_TCPI_LOST)  // tcpi_lost
    put(UInt32(1234), CNL_TCPI_RTT)  // tcpi_rtt, us
    put(UInt32(567), CNL_TCPI_RTTVAR)  // tcpi_rttvar, us
    put(UInt32(0x7FFF_FFFF), CNL_TCPI_SND_SSTHRESH)  // tcpi_snd_ssthresh: infinite
    put(UInt32(10), CNL_TCPI_SND_CWND)  // tcpi_snd_cwnd
    put(UInt32(7), CNL_TCPI_TOTAL_RETRANS)  // tcpi_total_retrans
    put(UInt64(0x1_0000_0001), CNL_TCPI_BYTES_ACKED)  // tcpi_bytes_acked
    put(UInt64(987_654_321), CNL_TCPI_BYTES_RECEIVED)  // tcpi_bytes_received
    put(UInt64(125_000), CNL_TCPI_DELIVERY_RATE)  // tcpi_delivery_rate, bytes/s
    return Array(b.prefix(size))
}

/// `u32 sk_meminfo[SK_MEMINFO_VARS]`, element i = 100 + i.
func memInfoBytes(count: Int = 9) -> [UInt8] {
    var w = ByteWriter()
    for i in 0..<count { w.u32(UInt32(100 + i)) }  // r rb t tb f w o bl d, in SK_MEMINFO_* order
    return w.bytes
}

/// Calls `body` with `bytes` placed at the very end of readable memory, followed by an inaccessible page,
/// so that a read one byte past the end crashes instead of passing unnoticed.
func withGuardedBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let dataPages = max(1, (bytes.count + page - 1) / page)
    let total = (dataPages + 1) * page
    let base = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    precondition(base != MAP_FAILED)
    defer { munmap(base, total) }
    precondition(mprotect(base + dataPages * page, page, PROT_NONE) == 0)
    let start = base + dataPages * page - bytes.count
    bytes.withUnsafeBytes { src in
        if src.count > 0 { start.copyMemory(from: src.baseAddress!, byteCount: src.count) }
    }
    return try body(UnsafeRawBufferPointer(start: start, count: bytes.count))
}
