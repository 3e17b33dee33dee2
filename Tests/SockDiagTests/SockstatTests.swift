import Testing

@testable import SockDiag

/// `Sockstat.parse` on text shaped like the kernel's `sockstat_seq_show` and `sockstat6_seq_show`.
@Suite("/proc/net/sockstat")
struct SockstatTests {
    static let sockstat = """
        sockets: used 1287
        TCP: inuse 41 orphan 2 tw 28232 alloc 57 mem 9
        UDP: inuse 7 mem 4
        UDPLITE: inuse 0
        RAW: inuse 1
        FRAG: inuse 3 memory 12288

        """

    static let sockstat6 = """
        TCP6: inuse 12
        UDP6: inuse 5
        UDPLITE6: inuse 0
        RAW6: inuse 2
        FRAG6: inuse 1 memory 4096

        """

    @Test func parsesBothFiles() throws {
        var s = Sockstat()
        try s.parse(Self.sockstat)
        try s.parse(Self.sockstat6)
        #expect(s.socketsUsed == 1287)
        #expect(s.tcpInUse == 41)
        #expect(s.tcpOrphan == 2)
        #expect(s.tcpTimeWait == 28232)
        #expect(s.tcpAllocated == 57)
        #expect(s.tcpMemoryPages == 9)
        #expect(s.udpInUse == 7)
        #expect(s.udpMemoryPages == 4)
        #expect(s.udpLiteInUse == 0)
        #expect(s.rawInUse == 1)
        #expect(s.fragInUse == 3)
        #expect(s.fragMemory == 12288)
        #expect(s.tcp6InUse == 12)
        #expect(s.udp6InUse == 5)
        #expect(s.udpLite6InUse == 0)
        #expect(s.raw6InUse == 2)
        #expect(s.frag6InUse == 1)
        #expect(s.frag6Memory == 4096)
    }

    /// Parsing sockstat6 keeps what sockstat gave (and the other way round).
    @Test func parseKeepsOtherFields() throws {
        var s = Sockstat()
        try s.parse(Self.sockstat6)
        #expect(s.tcpTimeWait == 0)
        try s.parse(Self.sockstat)
        #expect(s.tcp6InUse == 12)
        #expect(s.tcpTimeWait == 28232)
    }

    @Test func unknownProtocolsAndKeysAreIgnored() throws {
        var s = Sockstat()
        try s.parse("MPTCP: inuse 3\nTCP: inuse 4 newkey 9\n")
        #expect(s.tcpInUse == 4)
    }

    @Test(arguments: [
        ("sockets: used 1\nTCP: inuse x orphan 0\n", 2),  // not a number
        ("TCP: inuse -1\n", 1),  // negative
        ("TCP: inuse 1 orphan\n", 1),  // a key without a value
        ("sockets: used 1\nUDP: inuse 99999999999999999999\n", 2),  // too big for UInt64
    ])
    func malformed(text: String, line: Int) {
        var s = Sockstat()
        #expect(throws: ProcNetError.self) { try s.parse(text, file: "fixture") }
        do {
            try s.parse(text, file: "fixture")
        } catch {
            guard case .malformed(let file, let number, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(file == "fixture")
            #expect(number == line)
        }
    }
}
