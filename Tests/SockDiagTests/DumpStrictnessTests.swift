import Testing

@_spi(Benchmarks) @testable import SockDiag

@Suite("Dump walk: strict about lengths and message types")
struct DumpStrictnessTests {
    func parse(_ bytes: [UInt8]) throws -> Int {
        var count = 0
        _ = try bytes.withUnsafeBytes { buffer in
            try InetDiagDump.parse(buffer, sequence: Netlink.sequence, portID: Netlink.portID) { _ in count += 1 }
        }
        return count
    }

    @Test("a message claiming more bytes than remain reports what it claimed")
    func claimedLength() throws {
        var message = DiagMessage(family: 2, state: 1).message()
        // nlmsg_len (bytes 0..3) says 1000; 108 bytes are left: this 88-byte message and the 20-byte DONE.
        message.replaceSubrange(0..<4, with: withUnsafeBytes(of: UInt32(1000)) { Array($0) })
        #expect(throws: DumpParseError.truncated(offset: 0, needed: 1000, available: 108)) {
            try parse(message + doneMessage())
        }
    }

    @Test("a data message of another type is refused, not parsed as inet_diag_msg")
    func foreignType() throws {
        let good = DiagMessage(family: 2, state: 1).message()
        let rtnl = netlinkMessage(type: 16, flags: Netlink.multi, payload: DiagMessage(family: 2, state: 1).bytes)
        #expect(try parse(good + doneMessage()) == 1)
        #expect(throws: DumpParseError.unexpectedType(offset: good.count, type: 16)) {
            try parse(good + rtnl + doneMessage())
        }
        let legacy = netlinkMessage(
            type: Netlink.tcpdiagGetsock, flags: Netlink.multi, payload: DiagMessage(family: 10, state: 6).bytes)
        #expect(try parse(legacy + doneMessage()) == 1)
    }
}
