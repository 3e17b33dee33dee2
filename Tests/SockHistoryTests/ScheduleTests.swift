import SockHistory
import SockReport
import Testing

@Suite struct ScheduleTests {
    let schedule = Schedule(interval: .seconds(10))  // lateness: 1 s (a quarter interval, capped at 1 s)
    let s: Int64 = 1_000_000_000

    @Test func onTimeTakesTheNextTick() {
        #expect(schedule.next(after: 0, elapsed: 2 * s) == (1, 0))
        #expect(schedule.next(after: 4, elapsed: 49 * s) == (5, 0))
    }

    @Test func slightlyLateStillTakesTheDueTick() {
        // Tick 1 was due at 10 s; at 10.5 s it is taken now, not shifted, not missed.
        #expect(schedule.next(after: 0, elapsed: 10 * s + s / 2) == (1, 0))
        // Ticks 1 and 2 passed; at 20.9 s tick 2 is still within its lateness: 1 missed.
        #expect(schedule.next(after: 0, elapsed: 20 * s + 9 * s / 10) == (2, 1))
    }

    @Test func tooLateIsMissedAndTheScheduleKeepsItsPhase() {
        // At 12 s, tick 1 (due 10 s) is 2 s late: missed; wait for tick 2 at 20 s.
        #expect(schedule.next(after: 0, elapsed: 12 * s) == (2, 1))
        // A 35 s stall after tick 3 (30 s): ticks 4…6 missed, tick 7 at 70 s.
        #expect(schedule.next(after: 3, elapsed: 65 * s) == (7, 3))
    }

    @Test func latenessIsAQuarterIntervalAtMostOneSecond() {
        #expect(Schedule(interval: TimeSpan(milliseconds: 100)).lateness == 25_000_000)
        #expect(Schedule(interval: .seconds(60)).lateness == 1_000_000_000)
    }
}
