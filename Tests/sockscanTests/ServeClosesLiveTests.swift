import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan serve` counting the connections a generator of known rates closes, in a private namespace: with
/// room for every destination its counters equal the generator's counts exactly; with `--top 1` the lead
/// changes hands, no series ever goes down, and the series seen plus `other` add up to every close.
@Suite("closed connections in serve, live", .serialized)
struct ServeClosesLiveTests {
    static let a = Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7321)
    static let b = Endpoint(address: .v4(IPv4Address(127, 0, 0, 3)), port: 7322)
    /// 4,000 ephemeral ports: at 300 closes/s, each holding its port 60 s, a runs out.
    static let range = 10000...13999

    /// Sets the namespace's `ip_local_port_range`.
    static func setRange(_ range: ClosedRange<Int>, in namespace: TestNamespace) throws {
        let set = try namespace.exec(
            "sh", ["-c", "echo '\(range.lowerBound) \(range.upperBound)' > /proc/sys/net/ipv4/ip_local_port_range"])
        try #require(set.status == 0, "\(set)")
    }

    static func labels(_ endpoint: Endpoint) -> [String: String] {
        ["local_address": "127.0.0.1", "remote_address": "\(endpoint.address)", "remote_port": "\(endpoint.port)"]
    }

    static let other = ["local_address": "other", "remote_address": "other", "remote_port": "other"]

    /// Scrapes `server`, checking that no `sockscan_connections_closed_total` series went below what
    /// `seen` last had, and records the values.
    static func scrape(_ server: ServeProcess, _ seen: inout [String: Double]) throws -> ExpositionText {
        let text = try server.metrics()
        for (key, value) in text.samples(named: "sockscan_connections_closed_total") {
            #expect(value >= seen[key, default: 0], "\(key) went down: \(seen[key, default: 0]) -> \(value)")
            seen[key] = value
        }
        return text
    }

    @Test func countersEqualTheGeneratorsCountsAndNeverGoDown() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // The range, before the servers start (their collectors read it to tell client sides, and again every
        // 10 s); each generator sets the same one, so that every connection, its held pairs too, has its port
        // in it whenever the collectors read it.
        try Self.setRange(Self.range, in: namespace)
        let all = try ServeProcess(["--netns", namespace.name, "--top", "10", "--cache", "0"])
        defer { all.background.stop() }
        let one = try ServeProcess(["--netns", namespace.name, "--top", "1", "--cache", "0"])
        defer { one.background.stop() }
        var seenAll: [String: Double] = [:]
        var seenOne: [String: Double] = [:]
        _ = try Self.scrape(all, &seenAll)
        _ = try Self.scrape(one, &seenOne)

        // a leads (client first: each close holds its port in TIME_WAIT), b closes server first.
        let first = try ConnectionChurn(
            in: namespace,
            destinations: [
                .init(Self.a, perSecond: 300, close: .clientFirst), .init(Self.b, perSecond: 30, close: .serverFirst),
            ],
            held: 2, limit: 400, maxSeconds: 5, ephemeralPorts: Self.range)
        var exhaustion: [Double] = []
        for _ in 0..<60 where first.made < 400 {
            usleep(100_000)
            let text = try Self.scrape(all, &seenAll)
            if let seconds = text.value("sockscan_port_exhaustion_seconds", Self.labels(Self.a)) {
                exhaustion.append(seconds)
            }
            // b leaves no TIME_WAIT on this side: it never runs out.
            if let b = text.value("sockscan_port_exhaustion_seconds", Self.labels(Self.b)) { #expect(b == .infinity) }
            _ = try Self.scrape(one, &seenOne)
        }
        let r1 = first.stop()
        try #require(r1.failure == nil, "\(r1)")
        // At a's rate, its 4,000 ports run out within a minute: some scrape said so.
        #expect(exhaustion.contains { $0.isFinite && $0 > 0 && $0 < 60 }, "\(exhaustion)")

        // b leads now.
        let second = try ConnectionChurn(
            in: namespace,
            destinations: [
                .init(Self.a, perSecond: 20, close: .clientFirst), .init(Self.b, perSecond: 400, close: .serverFirst),
            ],
            held: 2, limit: 1050, maxSeconds: 8, ephemeralPorts: Self.range)
        for _ in 0..<100 where second.made < 1050 {
            usleep(100_000)
            _ = try Self.scrape(all, &seenAll)
            _ = try Self.scrape(one, &seenOne)
        }
        let r2 = second.stop()
        try #require(r2.failure == nil, "\(r2)")

        // Each generator's held pair per destination closes at its stop, the client first.
        let expectedA = Double(r1.made[0] + r2.made[0] + 2)
        let expectedB = Double(r1.made[1] + r2.made[1] + 2)
        var final = try Self.scrape(all, &seenAll)
        for _ in 0..<100 {
            if final.value("sockscan_connections_closed_total", Self.labels(Self.a)) == expectedA
                && final.value("sockscan_connections_closed_total", Self.labels(Self.b)) == expectedB
            {
                break
            }
            usleep(20_000)
            final = try Self.scrape(all, &seenAll)
        }
        // --top 10: each destination's series is every close of it, exactly; nothing in other.
        #expect(final.value("sockscan_connections_closed_total", Self.labels(Self.a)) == expectedA, "\(r1) \(r2)")
        #expect(final.value("sockscan_connections_closed_total", Self.labels(Self.b)) == expectedB, "\(r1) \(r2)")
        #expect(final.value("sockscan_connections_closed_total", Self.other) == 0)
        #expect(final.samples(named: "sockscan_connections_closed_total").count == 3)
        #expect(final.samples(named: "sockscan_port_exhaustion_seconds").count == 2)
        #expect(final.value("sockscan_close_events_dropped_total") == 0)
        let check = try Promtool.checkMetrics(try all.get().body)
        #expect(check.status == 0 && check.stderr.isEmpty, "\(check.stderr)")

        // --top 1: b leads at the end, a's series is gone (it stays where it was), other took the rest; every
        // close is in exactly one series.
        var last = try Self.scrape(one, &seenOne)
        for _ in 0..<100 {
            let total = seenOne.values.reduce(0, +)
            if total == expectedA + expectedB { break }
            usleep(20_000)
            last = try Self.scrape(one, &seenOne)
        }
        #expect(last.samples(named: "sockscan_connections_closed_total").count == 2, "b and other")
        #expect(last.value("sockscan_connections_closed_total", Self.labels(Self.b)) != nil)
        #expect(last.value("sockscan_connections_closed_total", Self.labels(Self.a)) == nil)
        #expect(seenOne.values.reduce(0, +) == expectedA + expectedB, "\(seenOne)")
        #expect((seenOne[ExpositionText.key("sockscan_connections_closed_total", Self.other)] ?? 0) > 0)
        #expect(seenOne[ExpositionText.key("sockscan_connections_closed_total", Self.labels(Self.a))] ?? 0 > 0)
        let checkOne = try Promtool.checkMetrics(try one.get().body)
        #expect(checkOne.status == 0 && checkOne.stderr.isEmpty, "\(checkOne.stderr)")
        #expect(!all.background.stderr.contains("warning") && !one.background.stderr.contains("warning"))
    }
}
