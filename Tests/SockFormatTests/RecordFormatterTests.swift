import Foundation
import Testing

import SockDiag

@testable import SockFormat

/// Table rows as `ss -tan` prints them and NDJSON with the CLI contract's keys.
@Suite("RecordFormatter")
struct RecordFormatterTests {
    static let established = SocketRecord(
        proto: .tcp, family: .inet, state: .established,
        local: Endpoint(address: .v4(IPv4Address(10, 0, 0, 5)), port: 22),
        remote: Endpoint(address: .v4(IPv4Address(10, 0, 0, 1)), port: 51234),
        receiveQueue: 0, sendQueue: 36, uid: 1000, inode: 424_242, cookie: 0x0123_4567_89AB_CDEF, interfaceIndex: 0,
        timer: SocketTimer(kind: .retransmit, expiresMilliseconds: 1500, retransmits: 2))

    static let listener6 = SocketRecord(
        proto: .tcp, family: .inet6, state: .listen,
        local: Endpoint(address: .v6(.any), port: 22), remote: Endpoint(address: .v6(.any), port: 0),
        receiveQueue: 0, sendQueue: 4096)

    static let listener4 = SocketRecord(
        proto: .tcp, family: .inet, state: .listen,
        local: Endpoint(address: .v4(.any), port: 8080), remote: Endpoint(address: .v4(.any), port: 0),
        receiveQueue: 3, sendQueue: 128)

    static let udp = SocketRecord(
        proto: .udp, family: .inet6, state: .close,
        local: Endpoint(address: .v6(IPv6Address(high: 0x2001_0DB8_0000_0000, low: 0x53)), port: 53),
        remote: Endpoint(address: .v6(.any), port: 0), cookie: .max)

    static func row(_ r: SocketRecord, fields: RecordFormatter.Fields = []) -> String {
        var f = RecordFormatter(fields: fields)
        var w = TextWriter()
        f.writeRow(r, into: &w)
        return w.string
    }

    // Columns: state 11 wide, Recv-Q and Send-Q right-aligned in 7, a space after each, local address
    // 24 wide, a space, the peer.
    @Test func header() {
        var w = TextWriter()
        RecordFormatter().writeHeader(into: &w)
        #expect(w.string == "State       Recv-Q  Send-Q Local Address:Port       Peer Address:Port\n")
    }

    /// The Details header names what -e, -i and -m print after the peer, whichever of them is given.
    @Test(arguments: [
        RecordFormatter.Fields.extended, .tcpInfo, .memory, [.tcpInfo, .memory], [.processes, .tcpInfo],
    ])
    func detailsHeader(fields: RecordFormatter.Fields) {
        var w = TextWriter()
        RecordFormatter(fields: fields).writeHeader(into: &w)
        #expect(w.string.hasSuffix("Peer Address:Port        Details\n"), "\(w.string)")
        // The details of a row start in the Details column.
        let row = Self.row(Self.withInfo(Self.established), fields: fields)
        let column = w.string.utf8.count - "Details\n".utf8.count
        let detail = row.utf8.index(row.utf8.startIndex, offsetBy: column)
        #expect(row.utf8[row.utf8.index(before: detail)] == UInt8(ascii: " "))
        #expect(row.utf8[detail] != UInt8(ascii: " "), "\(row)")
    }

    @Test func processesAloneHeader() {
        var w = TextWriter()
        RecordFormatter(fields: .processes).writeHeader(into: &w)
        #expect(w.string.hasSuffix("Peer Address:Port        Process\n"))
    }

    @Test func rows() {
        #expect(Self.row(Self.established) == "ESTAB            0      36 10.0.0.5:22              10.0.0.1:51234\n")
        #expect(Self.row(Self.listener4) == "LISTEN           3     128 0.0.0.0:8080             0.0.0.0:*\n")
        #expect(Self.row(Self.listener6) == "LISTEN           0    4096 [::]:22                  [::]:*\n")
        #expect(Self.row(Self.udp) == "UNCONN           0       0 [2001:db8::53]:53        [::]:*\n")
    }

    /// `ss` prints `[::]` of a dual-stack socket (not v6-only) as `*`, local and peer; a v6-only socket, or
    /// one whose flag is unknown, keeps `[::]`.
    @Test func dualStackUnspecifiedAsStar() {
        var r = Self.listener6
        r.v6Only = false
        #expect(Self.row(r) == "LISTEN           0    4096 *:22                     *:*\n")
        r.v6Only = true
        #expect(Self.row(r) == "LISTEN           0    4096 [::]:22                  [::]:*\n")
        var u = Self.udp
        u.v6Only = false
        #expect(Self.row(u) == "UNCONN           0       0 [2001:db8::53]:53        *:*\n")
        // JSON keeps the address.
        var w = TextWriter()
        RecordFormatter().writeJSON(r, into: &w)
        #expect(w.string.contains("\"local_address\":\"::\""))
    }

    @Test func wideValuesPushRight() {
        var r = Self.udp
        r.local = Endpoint(address: .v6(IPv6Address("2001:db8:1234:5678:9abc:def0:1234:5678")!), port: 65535)
        r.receiveQueue = 123_456_789
        #expect(Self.row(r) == "UNCONN     123456789       0 [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 [::]:*\n")
    }

    @Test func netidAndExtended() {
        #expect(
            Self.row(Self.established, fields: [.netid, .extended])
                == "tcp   ESTAB            0      36 10.0.0.5:22              10.0.0.1:51234"
                + "           uid:1000 ino:424242 sk:123456789abcdef timer:(on,1.500s,2)\n")
    }

    /// `sk:` is the cookie in hexadecimal, as `ss -e` prints it (`%llx`).
    @Test(arguments: [(UInt64(0), "sk:0"), (0xA, "sk:a"), (0x10, "sk:10"), (.max, "sk:ffffffffffffffff")])
    func cookieInHex(cookie: UInt64, text: String) {
        var r = Self.listener4
        r.cookie = cookie
        #expect(Self.row(r, fields: .extended).hasSuffix(" \(text)\n"))
    }

    @Test func boundInterfaceWithoutName() {
        var r = Self.listener4
        r.interfaceIndex = 999_999  // no such interface: the number stands in for the name
        #expect(Self.row(r).contains(" 0.0.0.0%999999:8080 "))
    }

    static func withInfo(_ r: SocketRecord) -> SocketRecord {
        var r = r
        var info = TCPInfo()
        info.rtt = 1234
        info.rttvar = 567
        info.cwnd = 10
        info.ssthresh = 0x7FFF_FFFF
        info.bytesAcked = 100
        info.bytesReceived = 200
        info.deliveryRate = 1000
        r.tcpInfo = info
        var m = SocketMemory()
        m.receiveBuffer = 131_072
        m.drops = 1
        r.memory = m
        return r
    }

    @Test func tcpInfoAndMemoryInRow() {
        let row = Self.row(Self.withInfo(Self.established), fields: [.tcpInfo, .memory])
        #expect(
            row.hasSuffix(
                " rtt:1.234/0.567 cwnd:10 bytes_acked:100 bytes_received:200 delivery_rate 8kbps"
                    + " skmem:(r0,rb131072,t0,tb0,f0,w0,o0,bl0,d1)\n"))
    }

    /// tcp_info's delivery rate is bytes per second, printed as bits: the largest u64 must not overflow.
    @Test func hugeDeliveryRateSaturates() throws {
        var r = Self.withInfo(Self.established)
        r.tcpInfo?.deliveryRate = .max
        #expect(Self.row(r, fields: .tcpInfo).contains(" delivery_rate 18446744Tbps"))
        let (text, _) = try Self.json(r, fields: .tcpInfo)
        #expect(text.contains("\"delivery_rate_bps\":18446744073709551615}"))
    }

    /// The table's delivery rate in `ss`'s human units (`%.3g` and k M G T); JSON keeps bits per second.
    @Test(
        arguments: [
            (UInt64(0), "0bps"), (999, "999bps"), (1000, "1kbps"), (1234, "1.23kbps"), (8000, "8kbps"),
            (9996, "10kbps"), (12_345, "12.3kbps"), (99_960, "100kbps"), (123_456, "123kbps"),
            (1_050_000, "1.05Mbps"), (6_605_687_856, "6.61Gbps"), (123_900_000_000, "124Gbps"),
            (100_000_000_000, "100Gbps"), (2_500_000_000_000, "2.5Tbps"), (1_005_000, "1Mbps"),
        ])
    func deliveryRateUnits(bitsPerSecond: UInt64, text: String) {
        var w = TextWriter()
        w.writeBitRate(bitsPerSecond)
        #expect(w.string + "bps" == text)
    }

    // MARK: JSON

    static let contractKeys: Set<String> = [
        "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
        "send_q", "uid", "inode", "cookie", "interface", "timer",
    ]

    static func json(_ r: SocketRecord, fields: RecordFormatter.Fields = []) throws -> (String, [String: Any]) {
        var w = TextWriter()
        RecordFormatter(fields: fields).writeJSON(r, into: &w)
        let text = w.string
        #expect(text.hasSuffix("}\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)  // one line: NDJSON
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return (text, object)
    }

    @Test func jsonHasExactlyTheContractKeys() throws {
        let (text, o) = try Self.json(Self.established)
        #expect(Set(o.keys) == Self.contractKeys)
        #expect(o["proto"] as? String == "tcp")
        #expect(o["family"] as? String == "inet")
        #expect(o["state"] as? String == "established")
        #expect(o["local_address"] as? String == "10.0.0.5")
        #expect((o["local_port"] as? NSNumber)?.intValue == 22)
        #expect(o["remote_address"] as? String == "10.0.0.1")
        #expect((o["remote_port"] as? NSNumber)?.intValue == 51234)
        #expect((o["recv_q"] as? NSNumber)?.intValue == 0)
        #expect((o["send_q"] as? NSNumber)?.intValue == 36)
        #expect((o["uid"] as? NSNumber)?.intValue == 1000)
        #expect((o["inode"] as? NSNumber)?.intValue == 424_242)
        #expect(text.contains("\"cookie\":81985529216486895,"))  // exact, whatever a JSON reader does with 64 bits
        #expect((o["interface"] as? NSNumber)?.intValue == 0)
        let timer = try #require(o["timer"] as? [String: Any])
        #expect(timer["kind"] as? String == "on")
        #expect((timer["expires_ms"] as? NSNumber)?.intValue == 1500)
        #expect((timer["retransmits"] as? NSNumber)?.intValue == 2)
    }

    @Test func jsonIPv6AndUDP() throws {
        let (text, o) = try Self.json(Self.udp)
        #expect(Set(o.keys) == Self.contractKeys)
        #expect(o["proto"] as? String == "udp")
        #expect(o["family"] as? String == "inet6")
        #expect(o["state"] as? String == "close")
        #expect(o["local_address"] as? String == "2001:db8::53")  // no brackets in JSON
        #expect(o["remote_address"] as? String == "::")
        #expect((o["remote_port"] as? NSNumber)?.intValue == 0)
        #expect(text.contains("\"cookie\":18446744073709551615,"))
    }

    @Test func jsonOptionalObjects() throws {
        let r = Self.withInfo(Self.established)
        // Present in the record but not asked for: absent.
        #expect(Set(try Self.json(r).1.keys) == Self.contractKeys)
        // Asked for but absent from the record: absent.
        #expect(Set(try Self.json(Self.established, fields: [.tcpInfo, .memory]).1.keys) == Self.contractKeys)
        let (_, o) = try Self.json(r, fields: [.tcpInfo, .memory])
        #expect(Set(o.keys) == Self.contractKeys.union(["tcp_info", "memory"]))
        let info = try #require(o["tcp_info"] as? [String: Any])
        #expect((info["rtt_us"] as? NSNumber)?.intValue == 1234)
        #expect((info["cwnd"] as? NSNumber)?.intValue == 10)
        #expect((info["delivery_rate_bps"] as? NSNumber)?.intValue == 8000)
        let memory = try #require(o["memory"] as? [String: Any])
        #expect((memory["rcvbuf"] as? NSNumber)?.intValue == 131_072)
        #expect((memory["drops"] as? NSNumber)?.intValue == 1)
        #expect(memory.count == 9)
    }

    /// `TCP_INFINITE_SSTHRESH` (0x7fffffff, not set yet): JSON null, CSV empty, the table leaves it out.
    @Test func infiniteSSThresh() throws {
        let r = Self.withInfo(Self.established)
        #expect(r.tcpInfo?.ssthresh == 0x7FFF_FFFF)
        let (text, o) = try Self.json(r, fields: .tcpInfo)
        #expect(text.contains("\"ssthresh\":null,"))
        let info = try #require(o["tcp_info"] as? [String: Any])
        #expect(info["ssthresh"] is NSNull)
        var w = TextWriter()
        let formatter = RecordFormatter(fields: .tcpInfo)
        formatter.writeCSVHeader(into: &w)
        formatter.writeCSV(r, into: &w)
        let lines = w.string.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let column = try #require(lines[0].firstIndex(of: "tcp_info.ssthresh"))
        #expect(lines[1].count == lines[0].count)
        #expect(lines[1][column] == "")
        #expect(lines[1][column - 1] == "10")  // cwnd
        #expect(!Self.row(r, fields: .tcpInfo).contains("ssthresh"))

        var set = r
        set.tcpInfo?.ssthresh = 7
        #expect(try Self.json(set, fields: .tcpInfo).0.contains("\"ssthresh\":7,"))
        w = TextWriter()
        formatter.writeCSV(set, into: &w)
        #expect(w.string.split(separator: ",", omittingEmptySubsequences: false)[column] == "7")
        #expect(Self.row(set, fields: .tcpInfo).contains(" ssthresh:7 "))
    }

    @Test func jsonForEveryState() throws {
        for state in TCPState.allCases + [TCPState(rawValue: 0), TCPState(rawValue: 12)] {
            var r = Self.listener6
            r.state = state
            #expect(try Self.json(r).1["state"] as? String == state.name)
        }
    }
}
