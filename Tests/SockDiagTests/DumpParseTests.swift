import CNetlink
import SockScanTestSupport
import SystemPackage
import Testing

@_spi(Benchmarks) @testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// `InetDiagDump.parse` on dump replies assembled field by field (see Fixtures.swift).
@Suite("inet_diag dump parsing")
struct DumpParseTests {
    // MARK: fixtures

    /// An IPv4 established socket with a retransmit timer.
    static let v4 = DiagMessage(
        family: 2,  // AF_INET
        state: 1,  // TCP_ESTABLISHED
        timer: 1,  // retransmit timer
        retransmits: 2,
        sourcePort: 8080,
        destinationPort: 50_000,
        source: [127, 0, 0, 1],
        destination: [10, 1, 2, 3],
        interface: 3,
        cookieLow: 0x89AB_CDEF,
        cookieHigh: 0x0123_4567,
        expires: 1500,
        receiveQueue: 5,
        sendQueue: 7,
        uid: 1000,
        inode: 424_242
    )

    /// An IPv6 listener on 2001:db8::1 port 443.
    static let v6 = DiagMessage(
        family: 10,  // AF_INET6
        state: 10,  // TCP_LISTEN
        timer: 0,
        sourcePort: 443,
        destinationPort: 0,
        source: [0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  // 2001:db8::1
        destination: [UInt8](repeating: 0, count: 16),  // ::
        cookieLow: 1,
        receiveQueue: 0,
        sendQueue: 4096,  // listener: backlog limit
        uid: 0,
        inode: 99
    )

    /// An IPv6 socket from an IPv4-mapped address, in time-wait with a timewait timer.
    static let mapped = DiagMessage(
        family: 10,
        state: 6,  // TCP_TIME_WAIT
        timer: 3,  // timewait timer
        sourcePort: 0xFFFF,  // port 65535: checks the byte order of both bytes
        destinationPort: 0x0102,
        source: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1],  // ::ffff:192.0.2.1
        destination: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 198, 51, 100, 7],  // ::ffff:198.51.100.7
        cookieLow: 0xFFFF_FFFF,
        cookieHigh: 0xFFFF_FFFF,
        expires: 59_999
    )

    /// Three messages, a NOOP between them, and NLMSG_DONE.
    static var threeMessageDump: [UInt8] {
        v4.message() + netlinkMessage(type: Netlink.noop, payload: []) + v6.message() + mapped.message() + doneMessage()
    }

    static func parseAll(
        _ bytes: [UInt8], sequence: UInt32 = Netlink.sequence, portID: UInt32 = Netlink.portID,
        proto: TransportProtocol = .tcp
    ) throws -> (records: [SocketRecord], result: InetDiagDump.WalkResult) {
        var records: [SocketRecord] = []
        let result = try bytes.withUnsafeBytes {
            try InetDiagDump.parse($0, sequence: sequence, portID: portID, proto: proto) { records.append($0) }
        }
        return (records, result)
    }

    // MARK: messages

    @Test func ipv4Message() throws {
        let (records, result) = try Self.parseAll(Self.v4.message() + doneMessage())
        #expect(result.messages == 1)
        #expect(result.batches == 1)
        #expect(result.interrupted == false)
        let r = try #require(records.first)
        #expect(r.proto == .tcp)
        #expect(r.family == .inet)
        #expect(r.state == .established)
        #expect(r.local == Endpoint(address: .v4(IPv4Address(127, 0, 0, 1)), port: 8080))
        #expect(r.remote == Endpoint(address: .v4(IPv4Address(10, 1, 2, 3)), port: 50_000))
        #expect(r.receiveQueue == 5)
        #expect(r.sendQueue == 7)
        #expect(r.uid == 1000)
        #expect(r.inode == 424_242)
        #expect(r.cookie == 0x0123_4567_89AB_CDEF)  // low | high << 32
        #expect(r.interfaceIndex == 3)
        #expect(r.timer == SocketTimer(kind: .retransmit, expiresMilliseconds: 1500, retransmits: 2))
        #expect(r.tcpInfo == nil)
        #expect(r.memory == nil)
    }

    @Test func ipv6Messages() throws {
        let (records, result) = try Self.parseAll(Self.v6.message() + Self.mapped.message() + doneMessage())
        #expect(result.messages == 2)
        #expect(records.count == 2)
        let listener = records[0]
        #expect(listener.family == .inet6)
        #expect(listener.state == .listen)
        #expect(listener.local.address == .v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 1)))
        #expect(listener.local.description == "[2001:db8::1]:443")
        #expect(listener.remote == Endpoint(address: .v6(.any), port: 0))
        #expect(listener.sendQueue == 4096)
        #expect(listener.cookie == 1)
        #expect(listener.timer.kind == SocketTimerKind.none)
        let tw = records[1]
        #expect(tw.state == .timeWait)
        #expect(tw.local.address == .v6(IPv6Address(mapping: IPv4Address(192, 0, 2, 1))))
        #expect(tw.local.port == 65535)
        #expect(tw.remote.address.description == "::ffff:198.51.100.7")
        #expect(tw.remote.port == 0x0102)
        #expect(tw.cookie == UInt64.max)
        #expect(tw.timer == SocketTimer(kind: .timeWait, expiresMilliseconds: 59_999, retransmits: 0))
    }

    @Test func unknownTimerKind() throws {
        var m = Self.v4
        m.timer = 9  // no such timer
        #expect(try Self.parseAll(m.message() + doneMessage()).records.first?.timer.kind == .unknown)
    }

    @Test func otherFamilyIsSkipped() throws {
        var unix = Self.v4
        unix.family = 1  // AF_UNIX: not ours
        let (records, result) = try Self.parseAll(unix.message() + Self.v4.message() + doneMessage())
        #expect(result.messages == 2)
        #expect(records.count == 1)
    }

    // MARK: attributes

    @Test func tcpInfoAndMemory() throws {
        var m = Self.v4
        m.attributes = [
            attribute(type: 2, tcpInfoBytes()),  // INET_DIAG_INFO: struct tcp_info
            attribute(type: 7, memInfoBytes()),  // INET_DIAG_SKMEMINFO: u32[9]
        ]
        let r = try #require(try Self.parseAll(m.message() + doneMessage()).records.first)
        let info = try #require(r.tcpInfo)
        #expect(info.retransmits == 3)
        #expect(info.rto == 204_000)
        #expect(info.sendMSS == 1448)
        #expect(info.receiveMSS == 536)
        #expect(info.unacked == 2)
        #expect(info.lost == 1)
        #expect(info.rtt == 1234)
        #expect(info.rttvar == 567)
        #expect(info.ssthresh == 0x7FFF_FFFF)
        #expect(info.cwnd == 10)
        #expect(info.totalRetransmits == 7)
        #expect(info.bytesAcked == 0x1_0000_0001)
        #expect(info.bytesReceived == 987_654_321)
        #expect(info.deliveryRate == 125_000)
        let mem = try #require(r.memory)
        #expect(mem.receiveAllocated == 100)
        #expect(mem.receiveBuffer == 101)
        #expect(mem.sendAllocated == 102)
        #expect(mem.sendBuffer == 103)
        #expect(mem.forwardAllocated == 104)
        #expect(mem.sendQueued == 105)
        #expect(mem.optionMemory == 106)
        #expect(mem.backlog == 107)
        #expect(mem.drops == 108)
    }

    /// Older kernels send a shorter tcp_info: fields past its end read as zero.
    @Test(arguments: [0, 1, 3, 8, 12, 70, 104, 120, 127, 128, 136, 160, 167])
    func shortTCPInfo(size: Int) throws {
        var m = Self.v4
        m.attributes = [attribute(type: 2, tcpInfoBytes(size: size))]
        let info = try #require(try Self.parseAll(m.message() + doneMessage()).records.first?.tcpInfo)
        #expect(info.retransmits == (size > 2 ? 3 : 0))
        #expect(info.rto == (size >= 12 ? 204_000 : 0))
        #expect(info.rtt == (size >= 72 ? 1234 : 0))
        #expect(info.totalRetransmits == (size >= 104 ? 7 : 0))
        #expect(info.bytesAcked == (size >= 128 ? 0x1_0000_0001 : 0))
        #expect(info.bytesReceived == (size >= 136 ? 987_654_321 : 0))
        #expect(info.deliveryRate == (size >= 168 ? 125_000 : 0))
    }

    @Test func shortMemInfo() throws {
        var m = Self.v4
        m.attributes = [attribute(type: 7, memInfoBytes(count: 4))]  // an old kernel's 4 values
        let mem = try #require(try Self.parseAll(m.message() + doneMessage()).records.first?.memory)
        #expect(mem.sendBuffer == 103)
        #expect(mem.forwardAllocated == 0)
        #expect(mem.drops == 0)
    }

    @Test func unknownAttributesAreSkipped() throws {
        var m = Self.v4
        m.attributes = [
            attribute(type: 5, [0x01]),  // INET_DIAG_TOS, 1 byte + 3 padding
            attribute(type: 4, Array("cubic".utf8) + [0]),  // INET_DIAG_CONG, 6 bytes + 2 padding
            attribute(type: 0x8000 | 7, memInfoBytes()),  // SKMEMINFO with NLA_F_NESTED set: type is masked
            attribute(type: 99, []),  // unknown, empty
            attribute(type: 2, tcpInfoBytes(size: 104)),
        ]
        let r = try #require(try Self.parseAll(m.message() + doneMessage()).records.first)
        #expect(r.memory?.drops == 108)
        #expect(r.tcpInfo?.cwnd == 10)
    }

    /// `INET_DIAG_SKV6ONLY` (11), a u8 the kernel sends unasked for IPv6 sockets in listen or close state.
    @Test(arguments: [(UInt8?.some(0), Bool?.some(false)), (1, true), (nil, nil)])
    func v6Only(value: UInt8?, expected: Bool?) throws {
        var m = Self.v6
        m.attributes = value.map { [attribute(type: 11, [$0])] } ?? []  // INET_DIAG_SKV6ONLY: u8 + 3 padding
        let r = try #require(try Self.parseAll(m.message() + doneMessage()).records.first)
        #expect(r.v6Only == expected)
    }

    @Test func udpIgnoresTCPInfo() throws {
        var m = Self.v4
        m.state = 7  // TCP_CLOSE: an unconnected UDP socket
        m.attributes = [attribute(type: 2, tcpInfoBytes())]
        let r = try #require(try Self.parseAll(m.message() + doneMessage(), proto: .udp).records.first)
        #expect(r.proto == .udp)
        #expect(r.state == .close)
        #expect(r.tcpInfo == nil)
    }

    // MARK: the walk

    @Test func multipleMessagesAndNoop() throws {
        let bytes = Self.threeMessageDump
        let (records, result) = try Self.parseAll(bytes)
        #expect(records.map(\.state) == [.established, .listen, .timeWait])
        #expect(result.messages == 3)  // the NOOP is not a data message
        #expect(result.batches == 1)
        #expect(result.bytes == bytes.count)
        #expect(result.interrupted == false)
    }

    @Test func portIDZeroIsAccepted() throws {
        let bytes = netlinkMessage(type: 20, pid: 0, payload: Self.v4.bytes) + doneMessage()
        #expect(try Self.parseAll(bytes).records.count == 1)
    }

    @Test func dumpInterrupted() throws {
        let bytes = Self.v4.message() + Self.v6.message(flags: Netlink.multi | Netlink.dumpIntr) + doneMessage()
        let (records, result) = try Self.parseAll(bytes)
        #expect(records.count == 2)
        #expect(result.interrupted)
    }

    @Test func dumpInterruptedOnDone() throws {
        let bytes = Self.v4.message() + doneMessage(flags: Netlink.multi | Netlink.dumpIntr)
        #expect(try Self.parseAll(bytes).result.interrupted)
    }

    @Test func stopsAtDone() throws {
        // Bytes after NLMSG_DONE belong to nobody: they are not parsed.
        let bytes = Self.v4.message() + doneMessage() + Self.v6.message() + [0xFF, 0xFF]
        let (records, result) = try Self.parseAll(bytes)
        #expect(records.count == 1)
        #expect(result.messages == 1)
    }

    // MARK: kernel errors

    /// An errno in NLMSG_DONE's payload (what mnl_cb_run ignores) must not look like an empty dump.
    @Test(arguments: [EPERM, ENOENT, EACCES, ENOBUFS])
    func errnoInDone(errno: Int32) throws {
        let error = #expect(throws: NetlinkError.self) {
            try Self.parseAll(Self.v4.message() + doneMessage(errno: errno))
        }
        #expect(error?.errno == Errno(rawValue: errno))
        #expect(error?.operation == "dump tcp")
    }

    @Test func errnoInDoneAfterNoMessages() throws {
        let error = #expect(throws: NetlinkError.self) { try Self.parseAll(doneMessage(errno: EPERM)) }
        #expect(error?.errno == .notPermitted)
        #expect(error?.isRefusal == true)
    }

    @Test func nlmsgError() throws {
        let error = #expect(throws: NetlinkError.self) { try Self.parseAll(errorMessage(errno: EINVAL)) }
        #expect(error?.errno == .invalidArgument)
    }

    @Test func nlmsgErrorAfterRecords() throws {
        var delivered = 0
        let error = #expect(throws: NetlinkError.self) {
            try (Self.v4.message() + errorMessage(errno: EINVAL)).withUnsafeBytes {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) { _ in delivered += 1 }
            }
        }
        #expect(error?.errno == .invalidArgument)
        #expect(delivered == 1)
    }

    @Test func acknowledgementEndsDump() throws {
        #expect(try Self.parseAll(Self.v4.message() + errorMessage(errno: 0)).records.count == 1)
    }

    @Test func overrun() throws {
        let error = #expect(throws: NetlinkError.self) {
            try Self.parseAll(netlinkMessage(type: Netlink.overrun, payload: []))
        }
        #expect(error?.errno == .noBufferSpace)
    }

    @Test func bodyErrorPropagates() throws {
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try Self.threeMessageDump.withUnsafeBytes {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) { _ in throw Stop() }
            }
        }
    }

    // MARK: consistency errors

    @Test func foreignSequence() throws {
        let bytes = Self.v4.message() + Self.v6.message(seq: Netlink.sequence + 1) + doneMessage()
        #expect(throws: DumpParseError.foreignMessage(offset: Self.v4.message().count)) {
            try Self.parseAll(bytes)
        }
    }

    @Test func foreignSequenceOnDone() throws {
        #expect(throws: DumpParseError.foreignMessage(offset: 0)) {
            try Self.parseAll(doneMessage(seq: 1))
        }
    }

    @Test func foreignPortID() throws {
        let bytes = netlinkMessage(type: 20, pid: Netlink.portID + 1, payload: Self.v4.bytes) + doneMessage()
        #expect(throws: DumpParseError.foreignMessage(offset: 0)) { try Self.parseAll(bytes) }
    }

    @Test func unterminated() throws {
        let bytes = Self.v4.message() + Self.v6.message()
        #expect(throws: DumpParseError.unterminated(offset: bytes.count)) { try Self.parseAll(bytes) }
        #expect(throws: DumpParseError.unterminated(offset: 0)) { try Self.parseAll([]) }
    }

    /// Every prefix of a valid dump, placed against an inaccessible page: each throws a parse error
    /// (none holds a whole NLMSG_DONE), delivers only records of the full dump, in order, and never reads
    /// past the end.
    @Test func everyTruncatedPrefixThrows() throws {
        var m = Self.v4
        m.attributes = [attribute(type: 2, tcpInfoBytes()), attribute(type: 7, memInfoBytes())]
        let full =
            m.message() + netlinkMessage(type: Netlink.noop, payload: []) + Self.v6.message()
            + Self.mapped.message() + doneMessage()
        let expected = try Self.parseAll(full).records
        #expect(expected.count == 3)
        for n in 0..<full.count {
            var records: [SocketRecord] = []
            let prefix = Array(full.prefix(n))
            #expect(throws: DumpParseError.self, "prefix of \(n) bytes") {
                try withGuardedBytes(prefix) {
                    try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) {
                        records.append($0)
                    }
                }
            }
            // A prefix that cuts only NLMSG_DONE delivers every record, and still throws.
            #expect(records == Array(expected.prefix(records.count)), "prefix of \(n) bytes")
        }
        // The full dump, guarded too.
        let count = try withGuardedBytes(full) { b -> Int in
            var n = 0
            _ = try InetDiagDump.parse(b, sequence: Netlink.sequence, portID: Netlink.portID) { _ in n += 1 }
            return n
        }
        #expect(count == 3)
    }

    /// Every prefix of one inet_diag_msg with attributes, handed to parseMessage directly: a prefix shorter
    /// than the struct, or one that cuts an attribute header, throws `.truncated`; one that ends on an
    /// attribute boundary parses; nothing reads past the end.
    @Test func everyPayloadPrefixOfParseMessage() throws {
        var m = Self.v4
        m.attributes = [attribute(type: 7, memInfoBytes()), attribute(type: 2, tcpInfoBytes(size: 104))]
        let payload = m.bytes
        let boundaries: Set<Int> = [72, 72 + 40, payload.count]
        for n in 0...payload.count {
            let prefix = Array(payload.prefix(n))
            withGuardedBytes(prefix) { b in
                do {
                    let r = try InetDiagDump.parseMessage(b, proto: .tcp)
                    #expect(boundaries.contains(n), "prefix of \(n) bytes parsed")
                    #expect(r?.cookie == 0x0123_4567_89AB_CDEF)
                } catch {
                    guard let e = error as? DumpParseError, case .truncated = e else {
                        Issue.record("prefix of \(n) bytes: \(error)")
                        return
                    }
                    #expect(!boundaries.contains(n), "prefix of \(n) bytes threw")
                }
            }
        }
    }

    static func truncatedOffset(_ body: () throws -> Void) -> Int? {
        do {
            try body()
        } catch let DumpParseError.truncated(offset, _, _) {
            return offset
        } catch {
            Issue.record("expected DumpParseError.truncated, got \(error)")
            return nil
        }
        Issue.record("expected DumpParseError.truncated, nothing thrown")
        return nil
    }

    /// nlmsg_len values that cannot be right: 0, less than the header, more than the bytes left.
    @Test(arguments: [UInt32(0), 1, 8, 15, 1000, UInt32.max])
    func corruptMessageLength(length: UInt32) throws {
        let first = Self.v4.message()
        let bytes = first + netlinkMessage(type: 20, length: length, payload: Self.v6.bytes) + doneMessage()
        let offset = Self.truncatedOffset {
            _ = try withGuardedBytes(bytes) {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) { _ in }
            }
        }
        #expect(offset == first.count)
    }

    /// A data message too short for struct inet_diag_msg.
    @Test func shortInetDiagMessage() throws {
        let bytes = netlinkMessage(type: 20, payload: Array(Self.v4.bytes.prefix(40))) + doneMessage()
        #expect(throws: DumpParseError.truncated(offset: 16, needed: 72, available: 40)) {
            try Self.parseAll(bytes)
        }
    }

    /// An NLMSG_ERROR too short to hold its error number.
    @Test func shortErrorMessage() throws {
        let bytes = netlinkMessage(type: Netlink.error, payload: [0xEA, 0xFF])
        #expect(throws: DumpParseError.self) { try Self.parseAll(bytes) }
    }

    /// nla_len values that cannot be right: 0, 2 (less than the header), more than the bytes left.
    @Test(arguments: [UInt16(0), 2, 3, 200, 0xFFFF])
    func corruptAttributeLength(length: UInt16) throws {
        var m = Self.v4
        m.attributes = [
            attribute(type: 5, [0x01]),  // a good INET_DIAG_TOS: 8 bytes
            attribute(type: 7, length: length, memInfoBytes()),  // the bad one, at payload offset 80
        ]
        let bytes = m.message() + doneMessage()
        let offset = Self.truncatedOffset {
            _ = try withGuardedBytes(bytes) {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) { _ in }
            }
        }
        #expect(offset == 16 + 80)  // netlink header + inet_diag_msg + the TOS attribute
    }

    /// Fewer than 4 bytes after the struct: not even an attribute header.
    @Test(arguments: [1, 2, 3])
    func trailingBytesShorterThanAttributeHeader(extra: Int) throws {
        let payload = Self.v4.bytes + [UInt8](repeating: 0, count: extra)
        let bytes = netlinkMessage(type: 20, payload: payload) + doneMessage()
        #expect(throws: DumpParseError.truncated(offset: 16 + 72, needed: 4, available: extra)) {
            try Self.parseAll(bytes)
        }
    }

    /// Random corruption of a valid dump: every outcome is a value or a thrown error, never a crash.
    @Test func randomCorruptionNeverCrashes() throws {
        var m = Self.v4
        m.attributes = [attribute(type: 2, tcpInfoBytes()), attribute(type: 7, memInfoBytes())]
        let full = m.message() + Self.v6.message() + Self.mapped.message() + doneMessage()
        var rng = SplitMix64(seed: 0x50C5_CA11)
        for _ in 0..<3000 {
            var bytes = full
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            _ = try? withGuardedBytes(Array(bytes.prefix(cut))) {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID) { _ in }
            }
        }
    }
}
