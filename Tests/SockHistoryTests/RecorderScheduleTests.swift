import SockHistory
import SockReport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// ``Recorder/run()`` on a ``ScriptedClock``: every tick is taken at `start + k * interval` (or within the
/// lateness after it), and a delay shows as missed ticks, never as a shifted schedule.
@Suite struct RecorderScheduleTests {
    static let ms: Int64 = 1_000_000
    /// 100 ms: lateness 25 ms.
    static let interval = TimeSpan(milliseconds: 100)

    /// A recorder over a scripted clock and source, collecting what it hands to `onSample`.
    final class Harness {
        let clock = ScriptedClock()
        let source: ScriptedSource
        let recorder: Recorder
        var samples: [Sample] = []
        var logs: [String] = []
        let start: Int64

        init(schedule: Schedule = Schedule(interval: RecorderScheduleTests.interval), count: Int? = nil) {
            source = ScriptedSource(clock: clock)
            recorder = Recorder(sampler: source, store: nil, run: nil, schedule: schedule, clock: clock)
            recorder.count = count
            start = clock.now
            recorder.onSample = { [unowned self] sample, _ in samples.append(sample) }
            recorder.onLog = { [unowned self] in logs.append($0) }
        }

        /// Nanoseconds from the start to `sample`'s time (a wall time near 1.7e9 s is exact to the microsecond).
        func offset(_ sample: Sample) -> Int64 {
            Int64(((sample.time - clock.wall(at: start)) * 1e6).rounded()) * 1000
        }

        /// Each sample's tick, from its time (which must be within the lateness after that tick's time).
        func ticks(sourceLocation: SourceLocation = #_sourceLocation) -> [Int64] {
            let step = recorder.schedule.interval.nanoseconds
            return samples.map { sample in
                let offset = offset(sample)
                let tick = offset / step
                #expect(
                    offset - tick * step <= recorder.schedule.lateness,
                    "a sample at +\(offset / RecorderScheduleTests.ms) ms is not at a tick",
                    sourceLocation: sourceLocation)
                return tick
            }
        }

        /// The offset of each sample from its tick's time, milliseconds.
        var lateness: [Int64] {
            let step = recorder.schedule.interval.nanoseconds
            return samples.map { sample in
                let offset = offset(sample)
                return (offset % step) / RecorderScheduleTests.ms
            }
        }
    }

    @Test func onTimeSamplesAreExactlyOnTheGrid() throws {
        let h = Harness(count: 6)
        h.source.duration = 7 * Self.ms  // the work never accumulates into drift
        let summary = try h.recorder.run()
        #expect(summary.samples == 6 && summary.missed == 0 && summary.signal == nil)
        #expect(h.ticks() == [0, 1, 2, 3, 4, 5])
        #expect(h.lateness == [0, 0, 0, 0, 0, 0])
        #expect(h.samples.map(\.missed) == [0, 0, 0, 0, 0, 0])
        // It slept until each tick's time, no more, no less.
        #expect(h.clock.deadlines == (1...5).map { h.start + $0 * 100 * Self.ms })
    }

    @Test func aSlowSampleMissesTicksAndKeepsThePhase() throws {
        let h = Harness(count: 4)
        h.source.durations[1] = 250 * Self.ms  // tick 1 ends at 350 ms: ticks 2 and 3 are gone
        let summary = try h.recorder.run()
        #expect(h.ticks() == [0, 1, 4, 5])
        #expect(h.lateness == [0, 0, 0, 0])
        #expect(h.samples.map(\.missed) == [0, 0, 2, 0])
        #expect(summary.missed == 2)
        #expect(h.logs.contains { $0.hasPrefix("missed 2 ticks") }, "\(h.logs)")
    }

    @Test func aSampleOverrunningWithinTheLatenessTakesTheNextTickAtOnce() throws {
        let h = Harness(count: 3)
        h.source.durations[1] = 110 * Self.ms  // ends 10 ms after tick 2's time (lateness 25 ms)
        _ = try h.recorder.run()
        #expect(h.ticks() == [0, 1, 2])
        #expect(h.lateness == [0, 0, 10])
        #expect(h.samples.map(\.missed) == [0, 0, 0])
    }

    @Test func wakingTooLateMissesTheTickInsteadOfShiftingIt() throws {
        let h = Harness(count: 4)
        h.clock.oversleep[2] = 30 * Self.ms  // the wait for tick 2 returns 30 ms late: past the lateness
        h.clock.oversleep[4] = 20 * Self.ms  // the wait for tick 4 returns 20 ms late: still taken
        _ = try h.recorder.run()
        #expect(h.ticks() == [0, 1, 3, 4])
        #expect(h.lateness == [0, 0, 0, 20])
        #expect(h.samples.map(\.missed) == [0, 0, 1, 0])
        #expect(h.logs.contains { $0.contains("30 ms late") }, "\(h.logs)")
    }

    @Test func aLongStallMissesEveryTickItCovers() throws {
        let h = Harness(count: 3)
        h.source.durations[0] = 1_234 * Self.ms  // ends at 1234 ms: ticks 1…12 gone (12 is 34 ms late)
        _ = try h.recorder.run()
        #expect(h.ticks() == [0, 13, 14])
        #expect(h.samples.map(\.missed) == [0, 12, 0])
    }

    @Test func fullScansFollowTheirOwnCadenceAcrossMissedTicks() throws {
        let h = Harness(schedule: Schedule(interval: Self.interval, fullEvery: TimeSpan(milliseconds: 300)), count: 8)
        h.source.durations[2] = 150 * Self.ms  // tick 3 is missed: its scan moves to tick 4
        let summary = try h.recorder.run()
        #expect(h.ticks() == [0, 1, 2, 4, 5, 6, 7, 8])
        let scanned = h.samples.filter { $0.portUtilization != nil }.map { h.ticks([$0]) }
        #expect(scanned == [0, 4, 6])
        #expect(summary.fullScans == 3)
    }

    /// The ticks each "missed" log line counts (`missed N tick…`).
    static func missedCounts(_ logs: [String]) -> [Int64] {
        logs.filter { $0.hasPrefix("missed ") }.compactMap { Int64($0.dropFirst(7).prefix { $0.isNumber }) }
    }

    @Test func missedTicksAreLoggedAtMostOnceAMinuteWithACount() throws {
        let h = Harness(count: 1000)
        h.source.duration = 150 * Self.ms  // every sample misses one tick: 1000 samples in 200 s
        let summary = try h.recorder.run()
        #expect(summary.missed == 999)
        let counts = Self.missedCounts(h.logs)
        // The first at once, then one a minute (60, 120, 180 s), then what was left at the stop.
        #expect(counts.count == 5, "\(h.logs)")
        #expect(counts.first == 1)
        #expect(counts.reduce(0, +) == summary.missed, "every missed tick is counted once: \(h.logs)")
        #expect(
            h.logs.contains {
                $0.contains(" in 60 s (")
                    && $0.contains("the latest: the sample took 150 ms (the scan 150 ms, writing it 0 ms)")
            })
    }

    /// A missed tick's log line says where the time went: the scan, or writing the sample (a slow disk, a
    /// stalled reader of the output), which `onSample` stands for here.
    @Test func aMissedTickSaysWhetherTheScanOrTheWriteWasSlow() throws {
        let h = Harness(count: 3)
        h.recorder.onSample = { [unowned h] sample, _ in
            h.samples.append(sample)
            if h.samples.count == 2 { h.clock.now += 140 * Self.ms }
        }
        _ = try h.recorder.run()
        #expect(h.samples.map(\.missed) == [0, 0, 1])
        let line = h.logs.first { $0.hasPrefix("missed ") }
        #expect(
            line == "missed 1 tick: the sample took 141 ms (the scan 1 ms, writing it 140 ms), interval 100ms",
            "\(h.logs)")
    }

    @Test func lateWakesAreLoggedAtMostOnceAMinuteWithACount() throws {
        let h = Harness(count: 400)
        for wait in 1...400 { h.clock.oversleep[wait] = 30 * Self.ms }  // each wake past the lateness
        let summary = try h.recorder.run()
        let counts = Self.missedCounts(h.logs)
        #expect(counts.count <= 3, "80 s of late wakes: \(h.logs)")
        #expect(counts.reduce(0, +) == summary.missed && summary.missed > 300, "\(h.logs)")
        #expect(h.logs.first { $0.hasPrefix("missed") }?.contains("30 ms late") == true, "\(h.logs)")
    }

    @Test func aStopSignalEndsTheRunBetweenTicks() throws {
        let h = Harness()
        h.clock.stopAt = h.start + 450 * Self.ms
        let summary = try h.recorder.run()
        #expect(summary.signal == SIGTERM)
        #expect(h.ticks() == [0, 1, 2, 3, 4])
        #expect(summary.elapsedNanoseconds == 450 * Self.ms)
    }
}

extension RecorderScheduleTests.Harness {
    func ticks(_ some: [Sample]) -> Int64 {
        let step = recorder.schedule.interval.nanoseconds
        return offset(some[0]) / step
    }
}
