import CNetlink
import Testing

@testable import SockDiag

/// The kernel structs as Swift imports them: the sizes the C shim builds and the offsets
/// `InetDiagDump.parseMessage` reads with `loadUnaligned` (numbers written out there).
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
        #expect(CNetlink_NLMSG_HDRLEN() == 16)
    }

    /// (field, kernel offset, the offset parseMessage uses).
    static let messageOffsets: [(String, Int?, Int)] = [
        ("idiag_family", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_family), 0),
        ("idiag_state", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_state), 1),
        ("idiag_timer", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_timer), 2),
        ("idiag_retrans", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_retrans), 3),
        ("id.idiag_sport", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_sport), 4),
        ("id.idiag_dport", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_dport), 6),
        ("id.idiag_src", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_src), 8),
        ("id.idiag_dst", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_dst), 24),
        ("id.idiag_if", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_if), 40),
        ("id.idiag_cookie", MemoryLayout<inet_diag_msg>.offset(of: \.id.idiag_cookie), 44),
        ("idiag_expires", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_expires), 52),
        ("idiag_rqueue", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_rqueue), 56),
        ("idiag_wqueue", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_wqueue), 60),
        ("idiag_uid", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_uid), 64),
        ("idiag_inode", MemoryLayout<inet_diag_msg>.offset(of: \.idiag_inode), 68),
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
        #expect(CNetlink_SOCK_DIAG_BY_FAMILY() == 20)
        #expect(CNetlink_TCPDIAG_GETSOCK() == 18)
    }

    /// The `tcp_info` offsets the parser reads (cnetlink.c checks them against <linux/tcp.h>).
    @Test func tcpInfoOffsets() {
        #expect(CNL_TCPI_RETRANSMITS == 2)
        #expect(CNL_TCPI_RTO == 8)
        #expect(CNL_TCPI_SND_MSS == 16)
        #expect(CNL_TCPI_RTT == 68)
        #expect(CNL_TCPI_SND_CWND == 80)
        #expect(CNL_TCPI_TOTAL_RETRANS == 100)
        #expect(CNL_TCPI_BYTES_ACKED == 120)
        #expect(CNL_TCPI_DELIVERY_RATE == 160)
    }
}
