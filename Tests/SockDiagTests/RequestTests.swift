import CNetlink
import Testing

@testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// `cnl_inet_diag_request_build` read back byte by byte.
///
/// v2 request (`SOCK_DIAG_BY_FAMILY`, 72 bytes):
///   0 nlmsg_len | 4 nlmsg_type | 6 nlmsg_flags | 8 nlmsg_seq | 12 nlmsg_pid
///   16 sdiag_family | 17 sdiag_protocol | 18 idiag_ext | 19 pad | 20 idiag_states
///   24 id.sport (be) | 26 id.dport (be) | 28 id.src | 44 id.dst | 60 id.if | 64 id.cookie[2]
/// legacy request (`TCPDIAG_GETSOCK`, 76 bytes):
///   16 idiag_family | 17 src_len | 18 dst_len | 19 idiag_ext
///   20 id.sport (be) | 22 id.dport (be) | 24 id.src | 40 id.dst | 56 id.if | 60 id.cookie[2]
///   68 idiag_states | 72 idiag_dbs
@Suite("Dump request bytes")
struct RequestTests {
    static let requestFlags: UInt16 = 0x301  // NLM_F_REQUEST (1) | NLM_F_DUMP (NLM_F_ROOT 0x100 | NLM_F_MATCH 0x200)
    static let timeWaitOnly: UInt32 = 1 << 6

    /// Builds into a buffer prefilled with 0xAA so that bytes the builder forgot to write show up.
    static func build(
        kind: cnl_request_kind, family: Int32 = AF_INET, proto: Int = Int(IPPROTO_TCP), ext: UInt8 = 0,
        states: UInt32 = 0xFFF, sport: UInt16 = 0, dport: UInt16 = 0, bytecode: [UInt8]? = nil,
        bytecodeLength: UInt32? = nil, capacity: Int = Int(CNL_REQUEST_BUFFER_SIZE), seq: UInt32 = 77
    ) -> (rc: Int32, bytes: [UInt8]) {
        var buffer = [UInt8](repeating: 0xAA, count: capacity)
        let code = bytecode ?? []
        let rc = code.withUnsafeBytes { c in
            buffer.withUnsafeMutableBytes { b in
                var r = cnl_inet_diag_request()
                r.kind = kind
                r.family = UInt8(family)
                r.protocol = UInt8(proto)
                r.ext = ext
                r.states = states
                r.sport = sport
                r.dport = dport
                r.bytecode = bytecode == nil ? nil : c.baseAddress
                r.bytecode_len = bytecodeLength ?? UInt32(code.count)
                return cnl_inet_diag_request_build(b.baseAddress, b.count, &r, seq)
            }
        }
        return (rc, rc > 0 ? Array(buffer.prefix(Int(rc))) : [])
    }

    @Test func v2Request() {
        let (rc, b) = Self.build(
            kind: CNL_REQUEST_V2, family: AF_INET6, proto: Int(IPPROTO_UDP), ext: 0x42, states: Self.timeWaitOnly,
            sport: 443, dport: 0x1234, seq: 0xDEAD_BEEF)
        #expect(rc == 72)
        #expect(b.u32(at: 0) == 72)  // nlmsg_len
        #expect(b.u16(at: 4) == 20)  // nlmsg_type: SOCK_DIAG_BY_FAMILY
        #expect(b.u16(at: 6) == Self.requestFlags)  // nlmsg_flags
        #expect(b.u32(at: 8) == 0xDEAD_BEEF)  // nlmsg_seq
        #expect(b.u32(at: 12) == 0)  // nlmsg_pid: the kernel
        #expect(b[16] == UInt8(AF_INET6))  // sdiag_family
        #expect(b[17] == UInt8(IPPROTO_UDP))  // sdiag_protocol
        #expect(b[18] == 0x42)  // idiag_ext
        #expect(b[19] == 0)  // pad
        #expect(b.u32(at: 20) == Self.timeWaitOnly)  // idiag_states
        #expect(b.be16(at: 24) == 443)  // id.idiag_sport, network order
        #expect(b.be16(at: 26) == 0x1234)  // id.idiag_dport, network order
        #expect(b[24..<26] == [0x01, 0xBB])  // 443 big-endian, spelled out
        #expect(b[28..<60].allSatisfy { $0 == 0 })  // id.idiag_src, id.idiag_dst
        #expect(b.u32(at: 60) == 0)  // id.idiag_if
        #expect(b[64..<72].allSatisfy { $0 == 0xFF })  // id.idiag_cookie = INET_DIAG_NOCOOKIE x2
    }

    @Test func legacyRequest() {
        let (rc, b) = Self.build(
            kind: CNL_REQUEST_LEGACY_TCP, ext: 0x02, states: Self.timeWaitOnly, sport: 8080, dport: 53, seq: 9)
        #expect(rc == 76)
        #expect(b.u32(at: 0) == 76)  // nlmsg_len
        #expect(b.u16(at: 4) == 18)  // nlmsg_type: TCPDIAG_GETSOCK
        #expect(b.u16(at: 6) == Self.requestFlags)  // nlmsg_flags
        #expect(b.u32(at: 8) == 9)  // nlmsg_seq
        #expect(b.u32(at: 12) == 0)  // nlmsg_pid
        #expect(b[16] == UInt8(AF_INET))  // idiag_family (the kernel serves AF_UNSPEC regardless)
        #expect(b[17] == 0 && b[18] == 0)  // idiag_src_len, idiag_dst_len
        #expect(b[19] == 0x02)  // idiag_ext
        #expect(b.be16(at: 20) == 8080)  // id.idiag_sport
        #expect(b.be16(at: 22) == 53)  // id.idiag_dport
        #expect(b[24..<60].allSatisfy { $0 == 0 })  // id.idiag_src, id.idiag_dst, id.idiag_if
        #expect(b[60..<68].allSatisfy { $0 == 0xFF })  // id.idiag_cookie
        #expect(b.u32(at: 68) == Self.timeWaitOnly)  // idiag_states: only time-wait
        #expect(b.u32(at: 72) == 0)  // idiag_dbs
    }

    /// Every single-state mask lands in idiag_states of both request kinds.
    @Test(arguments: 0..<12)
    func statesMask(bit: Int) {
        let mask = UInt32(1) << UInt32(bit)
        #expect(Self.build(kind: CNL_REQUEST_V2, states: mask).bytes.u32(at: 20) == mask)
        #expect(Self.build(kind: CNL_REQUEST_LEGACY_TCP, states: mask).bytes.u32(at: 68) == mask)
    }

    @Test(arguments: [CNL_REQUEST_V2, CNL_REQUEST_LEGACY_TCP])
    func bytecodeAttribute(kind: cnl_request_kind) {
        // Six bytes: an INET_DIAG_BC_S_GE op {code 2, yes 8, no 12} and half of its port op, so padding shows.
        let program: [UInt8] = [2, 8, 12, 0, 0, 0]
        let (rc, b) = Self.build(kind: kind, bytecode: program)
        let base = kind == CNL_REQUEST_V2 ? 72 : 76
        #expect(rc == Int32(base + 12))
        #expect(b.u32(at: 0) == UInt32(base + 12))  // nlmsg_len covers the padded attribute
        #expect(b.u16(at: base) == 10)  // nla_len: 4 + 6
        #expect(b.u16(at: base + 2) == 1)  // nla_type: INET_DIAG_REQ_BYTECODE
        #expect(Array(b[(base + 4)..<(base + 10)]) == program)  // payload
        #expect(b[(base + 10)..<(base + 12)] == [0, 0])  // NLA_ALIGN padding, zeroed
    }

    @Test func emptyBytecodeAddsNoAttribute() {
        #expect(Self.build(kind: CNL_REQUEST_V2, bytecode: []).rc == 72)
    }

    @Test func errors() {
        let tooLong = [UInt8](repeating: 0, count: Int(CNL_BYTECODE_MAX) + 4)
        #expect(Self.build(kind: CNL_REQUEST_V2, bytecode: tooLong).rc == -E2BIG)
        #expect(Self.build(kind: CNL_REQUEST_V2, bytecode: nil, bytecodeLength: 8).rc == -EINVAL)  // length, no program
        #expect(Self.build(kind: CNL_REQUEST_V2, proto: Int(IPPROTO_ICMP)).rc == -EINVAL)
        #expect(Self.build(kind: CNL_REQUEST_LEGACY_TCP, proto: Int(IPPROTO_UDP)).rc == -EINVAL)
        #expect(Self.build(kind: CNL_REQUEST_V2, family: AF_UNIX).rc == -EINVAL)
        #expect(Self.build(kind: cnl_request_kind(rawValue: 7)).rc == -EINVAL)
        #expect(Self.build(kind: CNL_REQUEST_V2, capacity: 71).rc == -ENOSPC)
        #expect(Self.build(kind: CNL_REQUEST_V2, capacity: 72).rc == 72)
        #expect(Self.build(kind: CNL_REQUEST_LEGACY_TCP, capacity: 75).rc == -ENOSPC)
        #expect(Self.build(kind: CNL_REQUEST_V2, bytecode: [1, 2, 3, 4, 5], capacity: 83).rc == -ENOSPC)
        #expect(Self.build(kind: CNL_REQUEST_V2, bytecode: [1, 2, 3, 4, 5], capacity: 84).rc == 84)
        let max = [UInt8](repeating: 0, count: Int(CNL_BYTECODE_MAX))
        #expect(Self.build(kind: CNL_REQUEST_LEGACY_TCP, bytecode: max).rc == Int32(76 + 4 + Int(CNL_BYTECODE_MAX)))
    }

    // MARK: through Scanner

    static func scannerRequest(_ proto: TransportProtocol, family: AddressFamily?, _ query: ScanQuery) -> [UInt8] {
        var buffer = [UInt8](repeating: 0xAA, count: Int(CNL_REQUEST_BUFFER_SIZE))
        let rc = buffer.withUnsafeMutableBytes {
            Scanner.buildRequest(proto, family: family, query, sequence: 31, into: $0)
        }
        return rc > 0 ? Array(buffer.prefix(Int(rc))) : []
    }

    @Test func queryReachesV2Request() {
        let query = ScanQuery(
            protocols: .udp, families: .inet6, states: StateSet(.timeWait), extensions: [.tcpInfo, .memory],
            localPort: 5353, remotePort: 80)
        let b = Self.scannerRequest(.udp, family: .inet6, query)
        #expect(b.count == 72)
        #expect(b.u16(at: 4) == 20)  // SOCK_DIAG_BY_FAMILY
        #expect(b.u32(at: 8) == 31)  // nlmsg_seq
        #expect(b[16] == 10)  // AF_INET6
        #expect(b[17] == 17)  // IPPROTO_UDP
        #expect(b[18] == 1 << 1 | 1 << 6)  // idiag_ext: INET_DIAG_INFO (2) and INET_DIAG_SKMEMINFO (7)
        #expect(b.u32(at: 20) == 1 << 6)  // idiag_states: time-wait only
        #expect(b.be16(at: 24) == 5353)
        #expect(b.be16(at: 26) == 80)
    }

    static let stateMasks: [(StateSet, UInt32)] = [
        (.all, 0xFFF), (StateSet(.timeWait), 0x40), (StateSet(.listen), 0x400), (.connected, 0xB7F),
        (StateSet([.established, .synSent]), 0x6),
    ]

    @Test(arguments: stateMasks)
    func queryStatesReachLegacyRequest(states: StateSet, mask: UInt32) {
        let b = Self.scannerRequest(.tcp, family: nil, ScanQuery(states: states))
        #expect(b.count == 76)
        #expect(b.u16(at: 4) == 18)  // TCPDIAG_GETSOCK
        #expect(b.u32(at: 68) == mask)  // idiag_states
        #expect(b[19] == 0)  // no extensions asked
        #expect(b.be16(at: 20) == 0 && b.be16(at: 22) == 0)  // any port
    }

    @Test func queryBytecodeReachesRequest() {
        let program: [UInt8] = [0, 4, 8, 0]  // one INET_DIAG_BC_NOP op
        let b = Self.scannerRequest(.tcp, family: .inet, ScanQuery(bytecode: program))
        #expect(b.count == 80)
        #expect(b.u16(at: 72) == 8)  // nla_len
        #expect(b.u16(at: 74) == 1)  // INET_DIAG_REQ_BYTECODE
        #expect(Array(b[76..<80]) == program)
    }
}
