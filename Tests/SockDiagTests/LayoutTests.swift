import CNetlink
import Testing

@_spi(Benchmarks) @testable import SockDiag

/// The kernel structs as Swift imports them: the sizes the C shim builds, and the offsets
/// `InetDiagDump.parseMessage` reads (CNetlink's `CNL_MSG_*`, which cnetlink.c also checks with
/// `_Static_assert`) against Swift's own view of `struct inet_diag_msg`.
@Suite("Kernel struct layouts")
struct LayoutTests {
    @Test func structSizes() {
        #expect(MemoryLayout<inet_diag_msg>.size == 72)
        #expect(MemoryLayout<inet_diag_req_v2>.size == 56)
        #expect(MemoryLayout<inet_diag_req>.size == 60)
        #expect(MemoryLayout<inet_diag_sockid>.size == 48)
        #expect(MemoryLayout<nlmsghdr>.size == 16)
        #expect(MemoryLayout<nlattr>.size == 4)
        #expect(MemoryLayout<inet_diag_bc_op>.size == 4)
        #expect(InetDiagDump.messageSize == MemoryLayout<inet_diag_msg>.size)
        #expect(Int(CNL_MSG_SIZE) == MemoryLayout<inet_diag_msg>.size)
        #expect(cnl_nlmsg_hdrlen() == 16)
    }

    /// (field, offset in Swift's import of the kernel struct, the offset parseMessage reads).
    static let messageOffsets: [(String, Int?, Int)] = [
        ("idiag_family", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_family), Int(CNL_MSG_FAMILY)),
        ("idiag_state", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_state), Int(CNL_MSG_STATE)),
        ("idiag_timer", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_timer), Int(CNL_MSG_TIMER)),
        ("idiag_retrans", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_retrans), Int(CNL_MSG_RETRANS)),
        ("id.idiag_sport", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_sport), Int(CNL_MSG_SPORT)),
        ("id.idiag_dport", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_dport), Int(CNL_MSG_DPORT)),
        ("id.idiag_src", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_src), Int(CNL_MSG_SRC)),
        ("id.idiag_dst", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_dst), Int(CNL_MSG_DST)),
        ("id.idiag_if", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_if), Int(CNL_MSG_IF)),
        ("id.idiag_cookie", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_cookie), Int(CNL_MSG_COOKIE)),
        ("idiag_expires", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_expires), Int(CNL_MSG_EXPIRES)),
        ("idiag_rqueue", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_rqueue), Int(CNL_MSG_RQUEUE)),
        ("idiag_wqueue", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_wqueue), Int(CNL_MSG_WQUEUE)),
        ("idiag_uid", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_uid), Int(CNL_MSG_UID)),
        ("idiag_inode", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_inode), Int(CNL_MSG_INODE)),
    ]

    @Test(arguments: messageOffsets)
    func messageOffset(field: String, kernel: Int?, parser: Int) {
        #expect(kernel == parser, "inet_diag_msg.\(field)")
    }

    /// The offsets the request tests read back.
    @Test func requestOffsets() {
        #expect(MemoryLayout<inet_diag_req_v2>.offset(of: \.sdiag_family) == 0)
        #expect(MemoryLayout<inet_diag_req_v2>.offset(of: \.sdiag_protocol) == 1)
        #expect(MemoryLayout<inet_diag_req_v2>.offset(of: \.idiag_ext) == 2)
        #expect(MemoryLayout<inet_diag_req_v2>.offset(of: \.idiag_states) == 4)
        #expect(MemoryLayout<inet_diag_req_v2>.offset(of: \.id) == 8)
        #expect(MemoryLayout<inet_diag_req>.offset(of: \.idiag_family) == 0)
        #expect(MemoryLayout<inet_diag_req>.offset(of: \.idiag_ext) == 3)
        #expect(MemoryLayout<inet_diag_req>.offset(of: \.id) == 4)
        #expect(MemoryLayout<inet_diag_req>.offset(of: \.idiag_states) == 52)
        #expect(MemoryLayout<inet_diag_req>.offset(of: \.idiag_dbs) == 56)
        #expect(MemoryLayout<inet_diag_sockid>.offset(of: \.idiag_sport) == 0)
        #expect(MemoryLayout<inet_diag_sockid>.offset(of: \.idiag_dport) == 2)
        #expect(MemoryLayout<inet_diag_sockid>.offset(of: \.idiag_if) == 36)
        #expect(MemoryLayout<inet_diag_sockid>.offset(of: \.idiag_cookie) == 40)
        #expect(MemoryLayout<nlmsgerr>.offset(of: \.error) == 0)
    }

    /// The attribute types and `sk_meminfo` indices the parser switches on.
    @Test func attributeNumbers() {
        #expect(INET_DIAG_INFO == 2)
        #expect(INET_DIAG_SKMEMINFO == 7)
        #expect(INET_DIAG_REQ_BYTECODE == 1)
        #expect(SK_MEMINFO_RMEM_ALLOC == 0)
        #expect(SK_MEMINFO_RCVBUF == 1)
        #expect(SK_MEMINFO_WMEM_ALLOC == 2)
        #expect(SK_MEMINFO_SNDBUF == 3)
        #expect(SK_MEMINFO_FWD_ALLOC == 4)
        #expect(SK_MEMINFO_WMEM_QUEUED == 5)
        #expect(SK_MEMINFO_OPTMEM == 6)
        #expect(SK_MEMINFO_BACKLOG == 7)
        #expect(SK_MEMINFO_DROPS == 8)
        #expect(cnl_sock_diag_by_family() == 20)
        #expect(cnl_tcpdiag_getsock() == 18)
    }
}
