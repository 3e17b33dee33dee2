import Foundation
import SockDiag
import SockMetrics
import SockReport
import SockScanTestSupport
import Testing

/// `sockscan_connections_closed_total` from running totals: top N by closes over the last minute plus
/// `other`, each close counted once, no series ever going down when destinations leave or rejoin the top.
@Suite("Close counters")
struct CloseCountersTests {
    static func destination(_ port: UInt16) -> Destination {
        Destination(
            localAddress: .v4(IPv4Address(10, 0, 0, 1)), remoteAddress: .v4(IPv4Address(192, 0, 2, 1)),
            remotePort: port)
    }
    static let a = destination(443)
    static let b = destination(80)
    static let c = destination(8080)

    /// Totals as a collector would report them: cumulative per destination, `closes` their sum plus
    /// `beyond` (destinations past the collector's limit).
    static func totals(_ counts: [Destination: Int], beyond: Int = 0) -> ChurnTotals {
        ChurnTotals(
            closes: counts.values.reduce(beyond, +), otherCloses: beyond, byDestination: counts)
    }

    @Test("top 1 of three: the busiest over the window has a series, the rest goes to other")
    func topAndOther() {
        var counters = CloseCounters(top: 1, startedAt: 0)
        counters.update(Self.totals([Self.a: 100, Self.b: 10], beyond: 4), at: 1)
        #expect(counters.current == [Self.a])
        #expect(counters.values[Self.a] == 100 && counters.other == 14)
        #expect(counters.closesPerSecond(Self.a) == 100)
        counters.update(Self.totals([Self.a: 150, Self.b: 30, Self.c: 5], beyond: 4), at: 2)
        #expect(counters.values[Self.a] == 150 && counters.other == 14 + 20 + 5)
        let snapshot = counters.snapshot(holds: [:])
        #expect(snapshot.series == [DestinationCloses(destination: Self.a, closes: 150)])
        #expect(snapshot.other == 39 && snapshot.exhaustion.isEmpty)
    }

    @Test("a destination leaving the top keeps its value and resumes from it; no series ever goes down")
    func leavingAndRejoining() {
        var counters = CloseCounters(top: 1, startedAt: 0)
        var seen: [String: Int] = [:]
        var cumulative: [Destination: Int] = [:]
        // Seconds 1-60: a closes 50/s, b 1/s. Seconds 61-180: b 20/s, a none (b leads with fewer closes in all
        // than a). Seconds 181-300: a 50/s again, and leads again once it has more closes in the last minute:
        // a count of "other = total - the series shown" would go down then.
        for second in 1...300 {
            let rates: [Destination: Int] =
                second <= 60
                ? [Self.a: 50, Self.b: 1] : second <= 180 ? [Self.a: 0, Self.b: 20] : [Self.a: 50, Self.b: 0]
            for (d, r) in rates { cumulative[d, default: 0] += r }
            counters.update(Self.totals(cumulative), at: Double(second))
            let snapshot = counters.snapshot(holds: [:])
            for series in snapshot.series {
                let key = "\(series.destination)"
                #expect(series.closes >= seen[key, default: 0], "\(key) went down at \(second) s")
                seen[key] = series.closes
            }
            #expect(snapshot.other >= seen["other", default: 0], "other went down at \(second) s")
            seen["other"] = snapshot.other
            // Every close counted once: the series (shown or not) and other add up to the total.
            #expect(counters.values.values.reduce(counters.other, +) == cumulative.values.reduce(0, +))
        }
        #expect(counters.current == [Self.a])
        // a's series: its closes while it led (seconds 1-60 and from when it led again), not those before.
        #expect((counters.values[Self.a] ?? 0) > 3000 && (counters.values[Self.a] ?? 0) < cumulative[Self.a]!)
        #expect((counters.values[Self.b] ?? 0) > 0)
        // The window is the last minute, up to a running total's spacing (5 s) more.
        #expect(counters.windowSeconds >= 60 && counters.windowSeconds <= 65)
    }

    @Test("top 0: one series, other, with every close")
    func topZero() {
        var counters = CloseCounters(top: 0, startedAt: 0)
        counters.update(Self.totals([Self.a: 3, Self.b: 2]), at: 1)
        #expect(counters.current.isEmpty && counters.other == 5)
    }

    @Test("the exposition: counters, +Inf for never, a finite time, dropped events; promtool passes")
    func exposition() throws {
        var counters = CloseCounters(top: 2, startedAt: 0)
        counters.update(ChurnTotals(closes: 620, byDestination: [Self.a: 600, Self.b: 20], droppedEvents: 7), at: 1)
        // a: 600 closes/s, all leaving TIME_WAIT (600 timers begun in the last second), 1000 ports: soon.
        // b: 20 closes/s, none made here (no TIME_WAIT): never.
        let holds = [
            Self.a: PortHold(
                notTimeWait: 0, timeWaitExpiries: Array(repeating: 59_500, count: 600), holdSeconds: 60,
                capacity: 1000),
            Self.b: PortHold(notTimeWait: 2, timeWaitExpiries: [], holdSeconds: 60, capacity: 1000),
        ]
        var snapshot = SocketSnapshot()
        snapshot.closes = counters.snapshot(holds: holds)
        let families = SocketMetrics.families(snapshot, top: 2, version: "1")
        let prometheus = String(decoding: Exposition.render(families, as: .prometheus), as: UTF8.self)
        let text = try ExpositionText(prometheus)
        let labels = { (d: Destination) in
            [
                "local_address": "\(d.localAddress)", "remote_address": "\(d.remoteAddress)",
                "remote_port": "\(d.remotePort)",
            ]
        }
        #expect(text.value("sockscan_connections_closed_total", labels(Self.a)) == 600)
        #expect(text.value("sockscan_connections_closed_total", labels(Self.b)) == 20)
        #expect(
            text.value(
                "sockscan_connections_closed_total",
                ["local_address": "other", "remote_address": "other", "remote_port": "other"]) == 0)
        #expect(text.value("sockscan_close_events_dropped_total") == 7)
        // (1000 - 600) / 600 s.
        let soon = try #require(text.value("sockscan_port_exhaustion_seconds", labels(Self.a)))
        #expect(abs(soon - 0.667) < 0.01, "\(soon)")
        #expect(text.value("sockscan_port_exhaustion_seconds", labels(Self.b)) == .infinity)
        #expect(prometheus.contains(#"remote_port="80"} +Inf"#), "\(prometheus)")
        let openMetrics = String(decoding: Exposition.render(families, as: .openMetrics), as: UTF8.self)
        #expect(openMetrics.contains("# TYPE sockscan_connections_closed counter"))
        #expect(openMetrics.contains("# UNIT sockscan_port_exhaustion_seconds seconds"))
        #expect(try ExpositionText(openMetrics).samples == text.samples)
        for body in [prometheus] {
            let result = try Promtool.checkMetrics(body)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        }
    }

    @Test("the one-shot estimate: TIME_WAIT over 60 s for the busiest destinations")
    func estimate() throws {
        var snapshot = SocketSnapshot()
        var states = StateCounts()
        states[.timeWait] = 300
        states[.established] = 4
        snapshot.top = [DestinationReport(destination: Self.a, used: 304, capacity: 1000, states: states)]
        let families = SocketMetrics.families(snapshot, top: 5, version: "1")
        let text = try ExpositionText(String(decoding: Exposition.render(families, as: .prometheus), as: UTF8.self))
        #expect(text.samples(named: "sockscan_closes_per_second_estimate").values.map { $0 } == [5])
        #expect(text.samples(named: "sockscan_connections_closed_total").isEmpty, "a one-shot counts no closes")
    }
}
