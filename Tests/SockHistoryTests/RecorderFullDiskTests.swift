import SockHistory
import SockReport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// ``Recorder/run()`` against a store whose disk fills up: it prunes, retries once, skips the sample (counted
/// as missed), logs sparingly, goes on, and ends its run on every way out.
@Suite struct RecorderFullDiskTests {
    static let ms: Int64 = 1_000_000

    final class Harness {
        let clock = ScriptedClock()
        let source: ScriptedSource
        let writer = ScriptedWriter()
        let recorder: Recorder
        let start: Int64
        let info: HistoryStore.RunInfo
        var handed = 0
        var logs: [String] = []

        init(count: Int? = nil) {
            source = ScriptedSource(clock: clock)
            start = clock.now
            info = HistoryStore.RunInfo(
                started: clock.wall(), pid: 1, host: "test", netns: nil, filter: nil,
                interval: TimeSpan(milliseconds: 100), fullEvery: nil, version: "test")
            recorder = Recorder(
                sampler: source, store: writer, run: info, schedule: Schedule(interval: TimeSpan(milliseconds: 100)),
                clock: clock)
            recorder.retention = .seconds(3600)
            recorder.count = count
            recorder.onSample = { [unowned self] _, _ in handed += 1 }
            recorder.onLog = { [unowned self] in logs.append($0) }
        }

        /// The disk is full from `from` to `to` ms after the start (for good without `to`).
        func full(from: Int64, to: Int64? = nil) {
            writer.isFull = { [unowned self] in
                let t = (clock.now - start) / RecorderFullDiskTests.ms
                return t >= from && t < to ?? .max
            }
        }

        func logs(containing text: String) -> [String] { logs.filter { $0.contains(text) } }
    }

    /// The schedule starts once the run row is written: a first commit stalled for 1.7 s (as an fsync behind
    /// other writers can be) neither misses ticks nor leaves tick 0 late on the grid of the ticks after it.
    @Test func aSlowFirstCommitStartsTheScheduleAfterIt() throws {
        let h = Harness(count: 3)
        h.writer.onBeginRun = { [unowned h] in h.clock.now += 1_700 * Self.ms }
        var times: [Int64] = []
        h.recorder.onSample = { [unowned h] _, _ in times.append(h.clock.now - h.start) }
        let summary = try h.recorder.run()
        #expect(h.writer.rows.map(\.tick) == [0, 1, 2] && summary.missed == 0)
        // Each sample takes the source's 1 ms.
        #expect(times == [1_701, 1_801, 1_901].map { $0 * Self.ms }, "\(times)")
    }

    @Test func samplesAreSkippedWhileTheDiskIsFullAndWritingResumes() throws {
        let h = Harness(count: 7)
        h.full(from: 300, to: 700)  // ticks 3…6
        let summary = try h.recorder.run()
        #expect(h.writer.rows.map(\.tick) == [0, 1, 2, 7, 8, 9, 10])
        #expect(h.writer.rows.map(\.missed) == [0, 0, 0, 4, 0, 0, 0])
        #expect(summary.samples == 7 && summary.missed == 4)
        #expect(h.handed == 7, "a skipped sample is not handed on either")
        // Pruned at the start (the hourly retention) and before each retry.
        #expect(h.writer.prunes == 1 + 4)
        #expect(h.logs(containing: "is full").count == 1, "\(h.logs)")
        #expect(h.logs(containing: "\(ScriptedWriter.path) is full: samples are skipped").count == 1)
        #expect(h.logs(containing: "writing again: 4 samples skipped").count == 1, "\(h.logs)")
        #expect(h.writer.begun.count == 1 && h.writer.ended.count == 1)
    }

    @Test func pruningThatMakesRoomSavesTheSample() throws {
        let h = Harness(count: 4)
        h.full(from: 200, to: 300)
        h.recorder.onSample = { [unowned h] _, _ in
            h.handed += 1
            if h.handed == 2 { h.writer.prunable = 10 }  // old rows to delete when tick 2 finds the disk full
        }
        let summary = try h.recorder.run()
        #expect(h.writer.rows.map(\.tick) == [0, 1, 2, 3])
        #expect(summary.missed == 0)
        #expect(h.logs(containing: "is full").isEmpty, "\(h.logs)")
        #expect(h.logs(containing: "pruned 10 samples").count == 1, "\(h.logs)")
    }

    @Test func aFullDiskAtStartDefersTheRunRow() throws {
        let h = Harness()
        h.full(from: 0, to: 250)  // the run row and ticks 0…2
        h.clock.stopAt = h.start + 450 * Self.ms
        let summary = try h.recorder.run()
        #expect(summary.signal == SIGTERM)
        #expect(h.writer.rows.map(\.tick) == [3, 4])
        #expect(h.writer.rows.map(\.missed) == [3, 0])
        #expect(h.writer.begun.map(\.started) == [h.info.started], "the run keeps the time it started")
        #expect(h.writer.ended == [h.clock.wall(at: h.start + 450 * Self.ms)])
        #expect(h.logs(containing: "is full").count == 1, "\(h.logs)")
        #expect(h.logs(containing: "writing again: 3 samples skipped").count == 1, "\(h.logs)")
    }

    @Test func aLongFullSpellLogsOncePerPeriod() throws {
        let h = Harness()
        h.recorder.fullDiskLogEvery = .seconds(1)
        h.full(from: 300, to: 3_650)  // ticks 3…36
        h.clock.stopAt = h.start + 4_050 * Self.ms
        let summary = try h.recorder.run()
        #expect(summary.missed == 34)
        #expect(h.writer.rows.count == 41 - 34)
        // The first skip, then at ticks 13, 23 and 33, then the resumption: 5 lines for 34 skipped samples.
        #expect(h.logs(containing: "is full").count == 1 + 3, "\(h.logs)")
        #expect(h.logs(containing: "still: ").map { $0.contains("skipped in") } == [true, true, true])
        #expect(h.logs(containing: "writing again: 34 samples skipped").count == 1, "\(h.logs)")
    }

    @Test func aRetentionBacklogIsPrunedAChunkPerTick() throws {
        let h = Harness(count: 6)
        h.recorder.pruneLimit = 100
        h.writer.prunable = 250
        _ = try h.recorder.run()
        // Full chunks at ticks 0 and 1, the rest at tick 2; then nothing until the hour.
        #expect(h.writer.pruned == [100, 100, 50])
        #expect(h.writer.rows.map(\.tick) == [0, 1, 2, 3, 4, 5])
    }

    @Test func stoppingWhileTheDiskIsFullIsNoError() throws {
        let h = Harness()
        h.full(from: 200)
        h.clock.stopAt = h.start + 550 * Self.ms
        let summary = try h.recorder.run()
        #expect(summary.signal == SIGTERM)
        #expect(h.writer.rows.map(\.tick) == [0, 1])
        #expect(h.writer.ended.isEmpty)
        #expect(h.logs(containing: "could not be marked stopped").count == 1, "\(h.logs)")
    }

    @Test func anErrorEndsTheRunOnItsWayOut() throws {
        let h = Harness()
        h.source.failures[3] = ScriptedFailure()
        #expect(throws: ScriptedFailure.self) { try h.recorder.run() }
        #expect(h.writer.rows.count == 3)
        #expect(h.writer.ended.count == 1)

        let o = Harness()
        o.recorder.onSample = { _, _ in throw ScriptedFailure() }
        #expect(throws: ScriptedFailure.self) { try o.recorder.run() }
        #expect(o.writer.ended.count == 1)
    }

    @Test func otherWriteErrorsStillStopTheRecorder() throws {
        let h = Harness()
        h.writer.failure = .readOnly(path: ScriptedWriter.path)
        #expect(throws: HistoryError.readOnly(path: ScriptedWriter.path)) { try h.recorder.run() }
        #expect(h.writer.ended.count == 1)
    }
}
