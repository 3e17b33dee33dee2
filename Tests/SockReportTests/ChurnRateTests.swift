import SockDiag
import SockFormat
import Testing

@testable import SockReport

/// The close rates of `ports` (estimated from TIME_WAIT, measured with `--sample`) and the churn report's
/// document, table and advice, on records made by hand.
@Suite("Close rates and the churn report")
struct ChurnRateTests {
    static let range = PortRange(low: 40000, high: 49999)
    static let local = IPAddress("10.0.0.1")!
    static let upstream = IPAddress("192.0.2.10")!

    static func key(_ port: UInt16, remote: IPAddress = upstream) -> Destination {
        Destination(localAddress: local, remoteAddress: remote, remotePort: port)
    }

    /// A TCP socket of `local` to `upstream:port` on local port `localPort`; TIME_WAIT with `expires` ms left.
    static func tcp(_ state: TCPState, _ localPort: UInt16, _ port: UInt16, expires: UInt32? = nil) -> SocketRecord {
        var record = SocketRecord(
            proto: .tcp, family: .inet, state: state, local: Endpoint(address: local, port: localPort),
            remote: Endpoint(address: upstream, port: port))
        if let expires { record.timer = SocketTimer(kind: .timeWait, expiresMilliseconds: expires, retransmits: 0) }
        return record
    }

    /// A destroyed client socket to `upstream:port` that carried `bytes`.
    static func closed(_ localPort: UInt16, _ port: UInt16, bytes: UInt64) -> SocketEvent {
        var info = TCPInfo()
        info.bytesAcked = bytes
        return SocketEvent(
            time: .seconds(0),
            socket: SocketRecord(
                proto: .tcp, family: .inet, state: .close, local: Endpoint(address: local, port: localPort),
                remote: Endpoint(address: upstream, port: port), tcpInfo: info))
    }

    @Test("the estimate is time-wait / 60 exactly, in the model, the JSON and the table")
    func estimateIsCountOverSixty() throws {
        var usage = PortUsage(settings: PortSettings(range: Self.range, tcpTWReuse: 0, tcpTimestamps: 1))
        // 1,234 TIME_WAIT sockets of every age (a minute of closes), 7 connections open.
        for i in 0..<1234 { usage.add(Self.tcp(.timeWait, 40000 + UInt16(i), 443, expires: UInt32(i * 48))) }
        for i in 0..<7 { usage.add(Self.tcp(.established, 45000 + UInt16(i), 443)) }
        let report = usage.report()
        let d = try #require(report.destinations.first)
        #expect(d.timeWaitSpanSeconds == 60)
        #expect(d.closesPerSecondEstimate == 1234.0 / 60)
        #expect(d.closesPerSecond == nil && d.sampledCloses == nil)
        var json = TextWriter()
        PortReportFormatter().writeJSON(report, into: &json)
        #expect(json.string.contains(#""closes_per_s_estimate":20.5667,"closes":null,"closes_per_s":null,"#))
        var table = TextWriter()
        PortReportFormatter().writeTable(report, into: &table)
        #expect(table.string.contains("[##..................]      20.6  established 7, time-wait 1234"), "\(table)")
    }

    @Test("where tcp_tw_reuse applies, the TIME_WAIT count stands for the oldest one's age, at least the delay")
    func reuseSpan() throws {
        // tcp_tw_reuse=1: connect() takes aged TIME_WAIT over, so 300 remain of 7.5 s of closes at 40/s.
        var usage = PortUsage(settings: PortSettings(range: Self.range, tcpTWReuse: 1, tcpTimestamps: 1))
        for i in 0..<300 { usage.add(Self.tcp(.timeWait, 40000 + UInt16(i), 443, expires: 52_500 + UInt32(i) * 25)) }
        // Young ones only (100 ms old): the span is the reuse delay, 1 s.
        for i in 0..<5 { usage.add(Self.tcp(.timeWait, 41000 + UInt16(i), 8443, expires: 59_900)) }
        let report = usage.report()
        let busy = try #require(report.destinations.first { $0.destination.remotePort == 443 })
        #expect(busy.timeWaitSpanSeconds == 7.5)
        #expect(busy.closesPerSecondEstimate == 40)
        let young = try #require(report.destinations.first { $0.destination.remotePort == 8443 })
        #expect(young.timeWaitSpanSeconds == 1)
        var table = TextWriter()
        PortReportFormatter().writeTable(report, into: &table)
        #expect(table.string.contains("Where tcp_tw_reuse applies, over the age of the oldest TIME_WAIT"), "\(table)")
    }

    @Test("--sample: the measured closes of each destination, 0 for one without, and the window in the JSON")
    func sample() throws {
        var usage = PortUsage(settings: PortSettings(range: Self.range, tcpTWReuse: 0))
        usage.add(Self.tcp(.timeWait, 40000, 443, expires: 30_000))
        usage.add(Self.tcp(.established, 40001, 5432))
        var report = usage.report()
        var tracker = ChurnTracker(ephemeralPorts: Self.range)
        for i in 0..<25 { tracker.add(Self.closed(41000 + UInt16(i), 443, bytes: 100)) }
        tracker.add(Self.closed(42000, 9999, bytes: 1))  // a destination without a socket now
        report.addSample(tracker, seconds: 2.5, droppedEvents: 3)
        let busy = try #require(report.destinations.first { $0.destination.remotePort == 443 })
        #expect(busy.sampledCloses == 25 && busy.closesPerSecond == 10)
        let pool = try #require(report.destinations.first { $0.destination.remotePort == 5432 })
        #expect(pool.sampledCloses == 0 && pool.closesPerSecond == 0)
        var json = TextWriter()
        PortReportFormatter().writeJSON(report, into: &json)
        #expect(json.string.contains(#""closes":25,"closes_per_s":10.0,"#), "\(json.string)")
        #expect(
            json.string.contains(#""sample":{"seconds":2.5,"closes":26,"closes_per_s":10.4,"dropped_events":3}"#))
        var table = TextWriter()
        PortReportFormatter().writeTable(report, into: &table)
        #expect(table.string.contains("measured over 2.5 s of the kernel's destroy events (26 in all); 3 events"))
    }

    /// A churn report of one window: `closes` closes to :443 over 10 s carrying `bytes` each, the first
    /// `closedHere` of them still in TIME_WAIT (closed here), `held` connections open to it, and a keep-alive
    /// connection to :5432.
    static func churn(
        closes: Int, bytes: UInt64, closedHere: Int, held: Int = 0, settings: PortSettings? = nil
    ) -> ChurnReport {
        let settings = settings ?? PortSettings(range: Self.range, tcpTWReuse: 0, tcpTimestamps: 1)
        var tracker = ChurnTracker(ephemeralPorts: Self.range)
        var usage = PortUsage(settings: settings)
        var timeWait = Set<SocketPair>()
        var expiries: [Destination: [UInt32]] = [:]
        for i in 0..<closes {
            let event = Self.closed(40000 + UInt16(i), 443, bytes: bytes)
            tracker.add(event)
            if i < closedHere {
                timeWait.insert(SocketPair(local: event.socket.local, remote: event.socket.remote))
                usage.add(Self.tcp(.timeWait, 40000 + UInt16(i), 443, expires: 50_000))
                expiries[Self.key(443), default: []].append(50_000)
            }
        }
        for i in 0..<held { usage.add(Self.tcp(.established, 40000 + UInt16(closedHere + i), 443)) }
        usage.add(Self.tcp(.established, 48000, 5432))
        tracker.recordTimeWait(timeWait)
        return ChurnReport(
            tracker: tracker, durationSeconds: 10, ports: usage.report(), timeWaitExpiries: expiries,
            idleDestinations: [Self.key(5432), Self.key(7777)])
    }

    @Test("an idle destination is listed with no closes and no exhaustion; the busy one first")
    func idleDestinations() throws {
        let report = Self.churn(closes: 1000, bytes: 300, closedHere: 1000)
        #expect(report.destinations.map(\.destination.remotePort) == [443, 5432])  // :7777 holds no socket
        let busy = report.destinations[0]
        #expect(busy.closesPerSecond == 100 && busy.closedHereShare == 1)
        // 100 closes/s held 60 s; nothing open but TIME_WAIT: 6,000 of 10,000 ports.
        #expect(busy.steadyStatePorts == 6000 && busy.secondsToExhaustion == nil)
        let idle = report.destinations[1]
        #expect(idle.closes == 0 && idle.portsInUse == 1 && idle.steadyStatePorts == 1)
        #expect(idle.secondsToExhaustion == nil)
        #expect(report.verdict == .ok && ChurnReportFormatter.advice(report).isEmpty)
        #expect(!report.isAtOrOver(percent: 61) && report.isAtOrOver(percent: 60))
    }

    @Test("the JSON document: the contract's keys in order, extra fields after them")
    func json() {
        let report = Self.churn(closes: 1000, bytes: 300, closedHere: 1000)
        var out = TextWriter()
        ChurnReportFormatter(top: 5).writeJSON(report, into: &out)
        let expected: String = [
            #"{"duration_s":10.0,"closes":1000,"closes_per_s":100.0,"destinations":["#,
            #"{"local_address":"10.0.0.1","remote_address":"192.0.2.10","remote_port":443,"closes":1000,"#,
            #""closes_per_s":100.0,"ports_in_use":1000,"capacity":10000,"steady_state_ports":6000,"#,
            #""seconds_to_exhaustion":null,"steady_state_utilization":0.6,"bytes_median":288,"bytes_p90":288,"#,
            #""closed_here_share":1.0,"time_wait":1000,"hold_s":60.0},"#,
            #"{"local_address":"10.0.0.1","remote_address":"192.0.2.10","remote_port":5432,"closes":0,"#,
            #""closes_per_s":0.0,"ports_in_use":1,"capacity":10000,"steady_state_ports":1,"#,
            #""seconds_to_exhaustion":null,"steady_state_utilization":0.0001,"bytes_median":null,"bytes_p90":null,"#,
            #""closed_here_share":null,"time_wait":0,"hold_s":60.0}],"#,
            #""aborted_closes":0,"dropped_events":0,"verdict":"ok","more_destinations":0,"other_closes":0,"#,
            #""summary":"10.0.0.1 -> 192.0.2.10:443: 100.0 closes/s, 6000 of 10000 ports in the steady state "#,
            #"(60.0%)","advice":[]}"#, "\n",
        ].joined()
        #expect(out.string == expected, "\(out.string)")
    }

    @Test("exhaustion: the time it takes at the rate, in the table and the verdict")
    func exhaustion() throws {
        // 1,000 closes/s for 10 s, all in TIME_WAIT for 50 s more: 10,000 of 10,000 ports held now.
        let full = Self.churn(closes: 10000, bytes: 300, closedHere: 10000)
        #expect(full.destinations[0].secondsToExhaustion == 0)
        #expect(ChurnReportFormatter.summary(full).contains("has no port left: 10000 of 10000 held"))
        // 3,000 closes (300/s) in TIME_WAIT, 4,000 open: 3,000 ports left at 300/s: 10 s.
        let soon = Self.churn(closes: 3000, bytes: 300, closedHere: 3000, held: 4000)
        let t = try #require(soon.destinations[0].secondsToExhaustion)
        #expect(abs(t - 10) < 0.11, "\(t)")
        #expect(soon.verdict == .critical && soon.isAtOrOver(percent: 100))
        var out = TextWriter()
        ChurnReportFormatter().writeTable(soon, into: &out)
        #expect(out.string.contains("Verdict: CRITICAL: 10.0.0.1 -> 192.0.2.10:443 runs out of ports in 10.0 s"))
        #expect(out.string.contains("  7000  10000   22000  10.0 s\n"), "\(out.string)")
        #expect(ChurnReportFormatter.durationText(250) == "4m10s")
        #expect(ChurnReportFormatter.durationText(7500) == "2h05m")
    }

    @Test("the first advice fits how connections end: small requests, bulk transfers, the server closing first")
    func adviceVariants() throws {
        let small = ChurnReportFormatter.advice(Self.churn(closes: 1500, bytes: 300, closedHere: 1500, held: 2000))
        #expect(
            small.first?.hasPrefix(
                "150.0 new connections/s to 192.0.2.10:443, 288 bytes each (median): one "
                    + "request each — reuse connections (HTTP keep-alive, a connection pool)") == true, "\(small)")
        #expect(small.contains { $0.hasPrefix("Set net.ipv4.tcp_tw_reuse=1 (now 0)") })

        let bulk = ChurnReportFormatter.advice(
            Self.churn(closes: 1500, bytes: 8 << 20, closedHere: 1500, held: 2000))
        #expect(bulk.first?.contains("for transfers this large the handshakes cost little") == true, "\(bulk)")

        // The server closes first: few of the sampled tuples are in TIME_WAIT here; open connections hold the ports.
        let server = Self.churn(closes: 1500, bytes: 300, closedHere: 100, held: 9500)
        #expect(server.destinations[0].closedHereShare.map { $0 < 0.5 } == true)
        let serverAdvice = ChurnReportFormatter.advice(server)
        #expect(serverAdvice.first?.contains("most closed by the server first") == true, "\(serverAdvice)")

        // tcp_tw_reuse=1 applies: a close holds its port 1 s, said so; no advice to set it.
        let reuse = Self.churn(
            closes: 1500, bytes: 300, closedHere: 1500, held: 8000,
            settings: PortSettings(range: Self.range, tcpTWReuse: 1, tcpTimestamps: 1, tcpTWReuseDelay: 1000))
        #expect(reuse.destinations[0].holdSeconds == 1)
        let reuseAdvice = ChurnReportFormatter.advice(reuse)
        #expect(reuseAdvice.contains { $0.hasPrefix("tcp_tw_reuse applies to 192.0.2.10:443 (tcp_tw_reuse=1)") })
        #expect(!reuseAdvice.contains { $0.hasPrefix("Set net.ipv4.tcp_tw_reuse=1") })
    }

    @Test("a socket on a listener's port inside the range is a server side, not a close to a destination")
    func listenerPortsAreServerSides() {
        var bound = PortBitmap()
        bound.insert(45000)
        var tracker = ChurnTracker(ephemeralPorts: Self.range, boundPorts: bound)
        tracker.add(Self.closed(45000, 41234, bytes: 1))  // the accepted side of a server on 45000
        tracker.add(Self.closed(41234, 45000, bytes: 1))  // its client
        #expect(tracker.closes == 1 && tracker.otherSockets == 1)
        #expect(tracker.destinations.keys.map(\.remotePort) == [45000])
    }

    @Test("a TIME_WAIT port frees for connect() when its timer ends, or once it is older than the reuse delay")
    func portFreedIn() {
        let plain = PortSettings(range: Self.range, tcpTWReuse: 0, tcpTimestamps: 1)
        let reuse = PortSettings(range: Self.range, tcpTWReuse: 1, tcpTimestamps: 1, tcpTWReuseDelay: 1000)
        let timer = { SocketTimer(kind: .timeWait, expiresMilliseconds: $0, retransmits: 0) }
        #expect(ChurnReport.portFreedIn(timer(59_800), settings: plain, destination: Self.key(443)) == 59_800)
        #expect(ChurnReport.portFreedIn(timer(59_800), settings: reuse, destination: Self.key(443)) == 800)
        #expect(ChurnReport.portFreedIn(timer(30_000), settings: reuse, destination: Self.key(443)) == 0)
        #expect(
            ChurnReport.portFreedIn(
                SocketTimer(kind: .none, expiresMilliseconds: 0, retransmits: 0), settings: plain,
                destination: Self.key(443)) == 60_000)
    }
}
