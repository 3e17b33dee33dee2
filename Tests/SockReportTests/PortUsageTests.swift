import SockDiag
import SockFormat
import Testing

@testable import SockReport

@Suite("Port sysctl parsing")
struct PortSettingsParsingTests {
    @Test(arguments: [
        ("", [ClosedRange<UInt16>]()),  // none reserved: the kernel prints an empty line
        ("\n", []),
        ("8080\n", [8080...8080]),
        ("8080,9000-9010\n", [8080...8080, 9000...9010]),
        (" 1-2 , 65535 ", [1...2, 65535...65535]),  // blanks around items are tolerated
        ("0", [0...0]),
    ])
    func reservedPortsParse(text: String, expected: [ClosedRange<UInt16>]) throws {
        #expect(try ReservedPorts(parsing: text).ranges == expected)
    }

    @Test(arguments: ["65536", "9010-9000", "80,,81", "a", "1-2-3", "-5", "5-", ",", "+1", "1.5"])
    func reservedPortsRejectMalformed(text: String) {
        #expect(throws: PortSettingsError.self) { try ReservedPorts(parsing: text) }
    }

    @Test func reservedPortsCountInRangeOnce() throws {
        let reserved = try ReservedPorts(parsing: "39990-40002,40001,40038-40100")
        let range = PortRange(low: 40000, high: 40039)
        // 40000, 40001, 40002 (40001 listed twice) + 40038, 40039
        #expect(reserved.count(in: range) == 5)
        #expect(reserved.description == "39990-40002,40001,40038-40100")
        #expect(reserved.contains(40001) && !reserved.contains(40003))
    }

    @Test func rangeParse() throws {
        #expect(try PortSettings.parseRange("32768\t60999\n") == PortRange(low: 32768, high: 60999))
        #expect(PortRange(low: 32768, high: 60999).count == 28232)
        #expect(throws: PortSettingsError.self) { try PortSettings.parseRange("60999 32768") }
        #expect(throws: PortSettingsError.self) { try PortSettings.parseRange("32768") }
    }
}

@Suite("Port usage grouping on fixed records")
struct PortUsageGroupingTests {
    static let range = PortRange(low: 40000, high: 40039)
    static let a = IPAddress("10.0.0.1")!
    static let b = IPAddress("10.0.0.2")!
    static let upstream = IPAddress("192.0.2.10")!

    static func tcp(_ state: TCPState, _ local: IPAddress, _ lport: UInt16, _ remote: IPAddress, _ rport: UInt16)
        -> SocketRecord
    {
        SocketRecord(
            proto: .tcp, family: local.family, state: state, local: Endpoint(address: local, port: lport),
            remote: Endpoint(address: remote, port: rport))
    }

    static func udp(_ state: TCPState, _ lport: UInt16) -> SocketRecord {
        SocketRecord(
            proto: .udp, family: .inet, state: state, local: Endpoint(address: a, port: lport),
            remote: Endpoint(address: .v4(.any), port: 0))
    }

    @Test func groupsByLocalRemoteAndPort() throws {
        let settings = PortSettings(
            range: Self.range, reserved: try ReservedPorts(parsing: "40038-40039"), tcpTWReuse: 0)
        var usage = PortUsage(settings: settings)
        // A listener inside the range: its port is bound for every destination.
        usage.add(Self.tcp(.listen, .v4(.any), 40010, .v4(.any), 0))
        // A listener outside the range changes nothing.
        usage.add(Self.tcp(.listen, .v4(.any), 8080, .v4(.any), 0))
        // 10 to upstream:443 from a: 6 established, 4 time-wait.
        for i in 0..<10 {
            usage.add(Self.tcp(i < 6 ? .established : .timeWait, Self.a, 40000 + UInt16(i), Self.upstream, 443))
        }
        // Same remote, other port: a different destination. Same ports reused: allowed by the 4-tuple.
        for i in 0..<3 { usage.add(Self.tcp(.synSent, Self.a, 40000 + UInt16(i), Self.upstream, 80)) }
        // Same remote and port from another local address: a different destination.
        usage.add(Self.tcp(.finWait2, Self.b, 40000, Self.upstream, 443))
        // IPv4-mapped IPv6 groups with IPv4.
        let mappedA = IPAddress.v6(IPv6Address(mapping: IPv4Address("10.0.0.1")!))
        let mappedUp = IPAddress.v6(IPv6Address(mapping: IPv4Address("192.0.2.10")!))
        usage.add(Self.tcp(.established, mappedA, 40020, mappedUp, 443))
        // Not ephemeral: outside the range, reserved, on the bound port (an accepted connection).
        usage.add(Self.tcp(.established, Self.a, 50000, Self.upstream, 443))
        usage.add(Self.tcp(.timeWait, Self.a, 40039, Self.upstream, 443))
        usage.add(Self.tcp(.established, .v4(.any), 40010, Self.upstream, 51000))
        // A close-state TCP socket in a dump is bound but idle (TCP_BOUND_INACTIVE): its port is bound.
        usage.add(Self.tcp(.close, .v4(.any), 40030, .v4(.any), 0))
        // UDP: two sockets share 40001 (SO_REUSEPORT), one outside the range.
        usage.add(Self.udp(.close, 40001))
        usage.add(Self.udp(.close, 40001))
        usage.add(Self.udp(.established, 40002))
        usage.add(Self.udp(.close, 5353))

        #expect(usage.skippedConnections == 3)
        let report = usage.report(thresholds: PortThresholds(warn: 20, critical: 50))
        #expect(report.reserved == 2)
        #expect(report.boundPorts == [40010, 40030])
        #expect(report.capacity == 40 - 2 - 2)
        #expect(report.destinations.count == 3)

        let first = try #require(report.destinations.first)
        #expect(first.destination == Destination(localAddress: Self.a, remoteAddress: Self.upstream, remotePort: 443))
        #expect(first.used == 11)
        #expect(first.states[.established] == 7)
        #expect(first.states[.timeWait] == 4)
        #expect(first.capacity == 36)
        #expect(abs(first.utilization - 11.0 / 36.0) < 1e-12)
        #expect(report.destinations[1].used == 3)
        #expect(report.destinations[1].destination.remotePort == 80)
        #expect(report.destinations[2].used == 1)
        #expect(report.destinations[2].destination.localAddress == Self.b)

        #expect(report.udp.sockets == 3)
        #expect(report.udp.ports == 2)
        #expect(report.udp.capacity == 38)  // UDP has its own port table: TCP binds do not count
        #expect(report.udp.states[.established] == 1)

        // 11/36 = 30.6%: over warn (20), under critical (50).
        #expect(report.verdict == .warn)
        #expect(report.isAtOrOver(percent: 30) && !report.isAtOrOver(percent: 31))
        // 11 distinct ports in use of 36 (30.6%) is over warn too: a fifth line, on bind() before connect().
        #expect(report.portsInUse == 11)
        #expect(PortReportFormatter.advice(report).count == 5)
        #expect(PortReportFormatter.advice(report)[4].contains("bind() a source address before connect()"))
        #expect(PortReportFormatter.advice(report)[0].hasPrefix("Reuse connections to 192.0.2.10:443"))
        #expect(PortReportFormatter.advice(report)[1].contains("IP_BIND_ADDRESS_NO_PORT"))
        #expect(PortReportFormatter.advice(report)[2].contains("ip_local_port_range"))
        #expect(PortReportFormatter.advice(report)[3].contains("tcp_tw_reuse=1"))
    }

    /// A TIME_WAIT record whose timer has `left` ms of its 60 s.
    static func timeWait(_ local: IPAddress, _ lport: UInt16, _ remote: IPAddress, left: UInt32) -> SocketRecord {
        var record = tcp(.timeWait, local, lport, remote, 443)
        record.timer = SocketTimer(kind: .timeWait, expiresMilliseconds: left, retransmits: 0)
        return record
    }

    @Test(arguments: [
        (2, 1, "127.0.0.1", 6),  // loopback with the default 2: the aged ones are reusable
        (2, 1, "10.0.0.9", 0),  // not loopback: 2 does not apply
        (1, 1, "10.0.0.9", 6),  // 1 applies everywhere
        (1, 0, "10.0.0.9", 0),  // no timestamps, no reuse
        (0, 1, "127.0.0.1", 0),
    ])
    func timeWaitReuse(reuse: Int, timestamps: Int, remote: String, reusable: Int) throws {
        let settings = PortSettings(range: Self.range, tcpTWReuse: reuse, tcpTimestamps: timestamps)
        var usage = PortUsage(settings: settings)
        let local = IPAddress(remote == "127.0.0.1" ? "127.0.0.1" : "10.0.0.1")!  // loopback at either end counts
        let peer = IPAddress(remote)!
        // 6 aged (in TIME_WAIT for 1 s or more), 4 fresh, 30 established: 40 of 40 ports used.
        for i in 0..<6 { usage.add(Self.timeWait(local, 40000 + UInt16(i), peer, left: 59_000 - UInt32(i) * 1000)) }
        for i in 6..<10 { usage.add(Self.timeWait(local, 40000 + UInt16(i), peer, left: 59_500)) }
        for i in 10..<40 { usage.add(Self.tcp(.established, local, 40000 + UInt16(i), peer, 443)) }
        let report = usage.report()
        let top = try #require(report.destinations.first)
        #expect(top.used == 40)
        #expect(top.utilization == 1)
        #expect(top.reusableTimeWait == reusable)
        #expect(top.blocking == 40 - reusable)
        #expect(report.verdict == (reusable > 0 ? .warn : .critical))  // 34/40 = 85%
        #expect(PortReportFormatter.advice(report).contains { $0.contains("tcp_tw_reuse=1") } == (reusable == 0))
    }

    @Test func emptyIsOkWithoutAdvice() {
        let usage = PortUsage(settings: PortSettings(range: Self.range))
        let report = usage.report()
        #expect(report.verdict == .ok)
        #expect(PortReportFormatter.advice(report).isEmpty)
        #expect(report.capacity == 40)
        #expect(report.worstUtilization == 0)
    }

    @Test func noPortLeftIsCritical() throws {
        let settings = PortSettings(range: Self.range, reserved: try ReservedPorts(parsing: "40000-40039"))
        let report = PortUsage(settings: settings).report()
        #expect(report.capacity == 0)
        #expect(report.verdict == .critical)
        #expect(report.isAtOrOver(percent: 100))
    }

    @Test func destinationCapOverflowsIntoOneTally() {
        var usage = PortUsage(settings: PortSettings(range: Self.range), maxDestinations: 2)
        for port in UInt16(1)...5 { usage.add(Self.tcp(.established, Self.a, 40000, Self.upstream, port)) }
        usage.add(Self.tcp(.established, Self.a, 40001, Self.upstream, 1))  // a kept destination still counts
        #expect(usage.destinations.count == 2)
        #expect(
            usage.destinations[Destination(localAddress: Self.a, remoteAddress: Self.upstream, remotePort: 1)]?.states
                .total
                == 2)
        #expect(usage.overflowSockets == 3)
        #expect(usage.report().otherSockets == 3)
    }

    @Test func jsonDocument() throws {
        var usage = PortUsage(
            settings: PortSettings(range: Self.range, tcpTWReuse: 0, tcpMaxTWBuckets: 100, tcpFinTimeout: 60))
        for i in 0..<30 {
            usage.add(Self.tcp(i < 10 ? .established : .timeWait, Self.a, 40000 + UInt16(i), Self.upstream, 443))
        }
        usage.add(Self.tcp(.established, Self.a, 40000, Self.upstream, 80))
        let report = usage.report()
        var out = TextWriter()
        PortReportFormatter(top: 1).writeJSON(report, into: &out)
        let text = out.string
        let expected: String = [
            #"{"range":{"low":40000,"high":40039,"size":40,"reserved":0,"bound":0,"bound_ports":[],"capacity":40,"#,
            #""in_use":30,"in_use_utilization":0.75},"#,
            #""settings":{"ip_local_reserved_ports":"","tcp_tw_reuse":0,"tcp_max_tw_buckets":100,"tcp_fin_timeout":60,"#,
            #""tcp_timestamps":null,"tcp_tw_reuse_delay":null},"#,
            #""destinations":[{"local_address":"10.0.0.1","remote_address":"192.0.2.10","remote_port":443,"#,
            #""used":30,"capacity":40,"utilization":0.75,"reusable_time_wait":0,"effective_utilization":0.75,"#,
            // Added with the close rates: 20 TIME_WAIT / 60 s; nothing measured without --sample.
            #""closes_per_s_estimate":0.3333,"closes":null,"closes_per_s":null,"#,
            #""states":{"established":10,"time-wait":20}}],"#,
            #""more_destinations":1,"other_sockets":0,"#,
            #""udp":{"sockets":0,"ports":0,"capacity":40,"utilization":0.0,"connected":0,"unconnected":0},"#,
            #""sample":null,"#,
            #""verdict":"warn","summary":"10.0.0.1 -> 192.0.2.10:443 uses 30 of 40 ports (75.0%)","advice":["Reuse"#,
        ].joined()
        #expect(text.hasPrefix(expected), "\(text)")
        #expect(text.hasSuffix("]}\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)
    }

    @Test func tableShowsWorstFirstWithBar() {
        var usage = PortUsage(settings: PortSettings(range: Self.range, tcpTWReuse: 0))
        for i in 0..<40 { usage.add(Self.tcp(.timeWait, Self.a, 40000 + UInt16(i), Self.upstream, 443)) }
        for i in 0..<2 { usage.add(Self.tcp(.established, Self.a, 40000 + UInt16(i), Self.upstream, 80)) }
        var out = TextWriter()
        PortReportFormatter(top: 5).writeTable(usage.report(), into: &out)
        let lines = out.string.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == "Ports 40000-40039 (40) - 0 reserved - 0 bound = 40 per destination")
        #expect(lines[1] == "tcp_tw_reuse=0  tcp_fin_timeout=?  tcp_max_tw_buckets=?")
        #expect(
            lines[2] == "In use by all connections together: 40 of 40 (100.0%); the limit for bind() before connect()")
        // The CLOSES/S column (added with the close rates): 40 TIME_WAIT / 60 s, and none for :80.
        #expect(lines[4] == "LOCAL     REMOTE          USED  CAP    UTIL                          CLOSES/S  STATES")
        #expect(
            lines[5]
                == "10.0.0.1  192.0.2.10:443    40   40  100.0%  [####################]       0.7  time-wait 40")
        #expect(
            lines[6]
                == "10.0.0.1  192.0.2.10:80      2   40    5.0%  [#...................]       0.0  established 2")
        #expect(lines[7].hasPrefix("CLOSES/S: closes made here per second over the last minute, time-wait / 60"))
        #expect(out.string.contains("Verdict: CRITICAL: 10.0.0.1 -> 192.0.2.10:443 uses 40 of 40 ports (100.0%)"))
    }

    /// Aged TIME_WAIT that tcp_tw_reuse lets connect() take over: the table's UTIL, its order, the line about
    /// hidden destinations and --fail-at all use the same (effective) number.
    @Test func reusableTimeWaitIsLeftOutConsistently() {
        var usage = PortUsage(settings: PortSettings(range: Self.range, tcpTWReuse: 1, tcpTimestamps: 1))
        let aged = SocketTimer(kind: .timeWait, expiresMilliseconds: 50_000, retransmits: 0)  // 10 s old
        for i in 0..<36 {  // 36 of 40 held, all reusable
            var record = Self.tcp(.timeWait, Self.a, 40000 + UInt16(i), Self.upstream, 6001)
            record.timer = aged
            usage.add(record)
        }
        for i in 0..<10 { usage.add(Self.tcp(.established, Self.a, 40000 + UInt16(i), Self.upstream, 8080)) }
        let report = usage.report()
        #expect(report.destinations.first?.destination.remotePort == 8080)  // 10 blocked beats 0 blocked
        var out = TextWriter()
        PortReportFormatter(top: 1).writeTable(report, into: &out)
        let text = out.string
        #expect(text.contains("192.0.2.10:8080    10   40  25.0%"), "\(text)")
        // Where tcp_tw_reuse applies, the estimate is over the oldest TIME_WAIT's age (10 s): 36 / 10.
        #expect(report.destinations[1].timeWaitSpanSeconds == 10)
        #expect(report.destinations[1].closesPerSecondEstimate == 3.6)
        #expect(
            text.contains(
                "(1 more destination: at most 0 ports blocked each, at most 36 held counting reusable TIME_WAIT)"),
            "\(text)")
        #expect(!report.isAtOrOver(percent: 90))
        #expect(report.isAtOrOver(percent: 25))
    }

    @Test func failAtZeroPassesWithNothingToMeasure() {
        let report = PortUsage(settings: PortSettings(range: Self.range)).report()
        #expect(!report.isAtOrOver(percent: 0))
        let full = PortUsage(
            settings: PortSettings(range: Self.range, reserved: ReservedPorts([40000...40039]))
        ).report()
        #expect(full.isAtOrOver(percent: 0))
        var out = TextWriter()
        PortReportFormatter(top: 1).writeTable(full, into: &out)
        #expect(out.string.contains("UDP: 0 sockets; every port of the range is reserved"))
    }
}
