import SockDiag
import SockReport
import Testing

/// The closes of an interval from two readings of a collector's totals, their aggregation in report rows,
/// and a destination's hold of its ports with the share of closes made here.
@Suite("Interval closes")
struct IntervalClosesTests {
    static func destination(_ port: UInt16) -> Destination {
        Destination(
            localAddress: .v4(IPv4Address(10, 0, 0, 1)), remoteAddress: .v4(IPv4Address(192, 0, 2, 1)),
            remotePort: port)
    }
    static let a = destination(443)
    static let b = destination(80)
    static let c = destination(8080)

    @Test("an interval is the difference of two readings, its busiest destinations first; the first reading starts it")
    func differences() throws {
        var intervals = CloseIntervals(top: 2)
        #expect(intervals.next(ChurnTotals(closes: 5, byDestination: [Self.a: 5]), at: 100) == nil)
        let firstInterval = intervals.next(
            ChurnTotals(closes: 65, byDestination: [Self.a: 45, Self.b: 15, Self.c: 5], droppedEvents: 3), at: 102)
        let first = try #require(firstInterval)
        #expect(first.closes == 60 && first.seconds == 2 && first.droppedEvents == 3)
        #expect(first.closesPerSecond == 30)
        #expect(
            first.top == [
                DestinationCloses(destination: Self.a, closes: 40), DestinationCloses(destination: Self.b, closes: 15),
            ])
        #expect(first.closesPerSecond(first.top[0]) == 20)
        // Nothing new for a: it drops out; ties in destination order (port 80 before 8080).
        let secondInterval = intervals.next(
            ChurnTotals(closes: 75, byDestination: [Self.a: 45, Self.b: 20, Self.c: 10], droppedEvents: 3), at: 103)
        let second = try #require(secondInterval)
        #expect(second.closes == 10 && second.seconds == 1 && second.droppedEvents == 0)
        #expect(second.top.map(\.destination) == [Self.b, Self.c])
        // Without top destinations, only the total.
        var totalOnly = CloseIntervals(top: 0)
        _ = totalOnly.next(ChurnTotals(), at: 0)
        #expect(totalOnly.next(ChurnTotals(closes: 7, byDestination: [Self.a: 7]), at: 1)?.top == [])
    }

    @Test("a report row's closes per second are its closes over the seconds they were counted in")
    func aggregation() throws {
        func sample(_ time: Double, _ closes: IntervalCloses?) -> Sample {
            var s = Sample(time: time)
            s.closes = closes
            return s
        }
        let samples = [
            sample(0, nil),  // the first of a run: not counted
            sample(
                1,
                IntervalCloses(
                    closes: 100, seconds: 1,
                    top: [.init(destination: Self.a, closes: 90), .init(destination: Self.b, closes: 10)])),
            sample(
                3,
                IntervalCloses(closes: 30, seconds: 2, droppedEvents: 2, top: [.init(destination: Self.b, closes: 30)])),
            sample(4, IntervalCloses(closes: 70, seconds: 1, top: [.init(destination: Self.a, closes: 70)])),
        ]
        let average = HistoryReport.average(samples)
        #expect(average.closes == 200 && average.closeSeconds == 4 && average.closesPerSecond == 50)
        #expect(average.droppedEvents == 2)
        #expect(
            average.topCloses == [
                DestinationCloses(destination: Self.a, closes: 160), DestinationCloses(destination: Self.b, closes: 40),
            ])
        #expect(average.closesPerSecond(average.topCloses[0]) == 40)
        let peak = HistoryReport.peak(samples)
        #expect(peak.closesPerSecond == 100)
        let rows = HistoryReport.rows(samples)
        #expect(rows.map(\.closesPerSecond) == [nil, 100, 15, 70])
        // A row without a counted sample has none; a row of some has theirs.
        #expect(HistoryReport.average([samples[0]]).closesPerSecond == nil)
        #expect(HistoryReport.average(Array(samples.prefix(2))).closesPerSecond == 100)
    }

    @Test("a hold: TIME_WAIT begun over the window against the closes; never, or when")
    func hold() {
        // 60 s timers started 0.5, 1.5 and 30 s ago, and one 59 s ago.
        let hold = PortHold(
            notTimeWait: 10, timeWaitExpiries: [59_500, 58_500, 30_000, 1_000], holdSeconds: 60, capacity: 1000)
        #expect(hold.timeWaitBegun(inLast: 2) == 2)
        #expect(hold.timeWaitBegun(inLast: 60) == 4)
        #expect(hold.closedHereShare(closes: 4, inLast: 2) == 0.5)
        #expect(hold.closedHereShare(closes: 1, inLast: 60) == 1, "at most every close")
        #expect(hold.closedHereShare(closes: 0, inLast: 60) == 1, "no close: the worst case")
        // 10 closes/s held 60 s: 10 + 600 ports at most, never 1000.
        #expect(hold.secondsToExhaustion(closesPerSecond: 10) == nil)
        // 100 closes/s: 10 + 3 TIME_WAIT left after the first second + 100 t reaches 1000 at t = 9.87.
        let fast = hold.secondsToExhaustion(closesPerSecond: 100)
        #expect(fast.map { abs($0 - 9.87) < 0.02 } == true, "\(String(describing: fast))")
        #expect(hold.secondsToExhaustion(closesPerSecond: 100, closedHereShare: 0) == nil)
    }
}
