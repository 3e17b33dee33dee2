import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// The clocks and the sleep a ``Recorder`` runs on: ``SystemClock`` in a service, a scripted one in tests
/// (so that the schedule can be checked exactly, without timing real sleeps).
public protocol RecorderClock {
    /// Nanoseconds on a clock that never jumps: the schedule's clock.
    func monotonic() -> Int64
    /// Seconds since 1970: what a sample is stamped with.
    func wall() -> Double
    /// CPU time of the process, microseconds.
    func processCPU() -> Int64
    /// Sleeps until ``monotonic()`` reaches `deadline`, or a request to stop arrives.
    ///
    /// - Returns: the signal that asks to stop, or `nil` when the deadline came.
    func wait(untilMonotonic deadline: Int64) -> Int32?
}

/// The kernel's clocks (``Clock``) and ``StopSignals``.
public struct SystemClock: RecorderClock {
    public init() {}
    public func monotonic() -> Int64 { Clock.monotonic() }
    public func wall() -> Double { Clock.wall() }
    public func processCPU() -> Int64 { Clock.processCPU() }
    public func wait(untilMonotonic deadline: Int64) -> Int32? { StopSignals.wait(untilMonotonic: deadline) }
}

/// What a ``Recorder`` samples: a ``Sampler`` (the kernel), or a scripted source in tests.
public protocol SampleSource: AnyObject {
    /// One sample, stamped `time`.
    func take(time: Double) throws -> Sample
    /// A port-exhaustion scan keeping the `top` destinations.
    func ports(top: Int) throws -> PortSnapshot
    /// Throws when what is sampled is no longer what was asked for: ``NamespaceGone`` for a namespace that
    /// can no longer be found the way it was named. The default throws nothing.
    func checkSource() throws
}

extension SampleSource {
    public func checkSource() throws {}
}

extension Sampler: SampleSource {
    /// Throws ``NamespaceGone`` when the namespace sampled is gone (``NetworkNamespace/checkLiveness()``).
    public func checkSource() throws {
        if let gone = namespace?.checkLiveness() { throw gone }
    }
}

/// When to sample: ticks at `start + k * interval` on the monotonic clock, and a full scan every
/// `fullEvery` (on the first tick and then each tick at or past the next full-scan time).
public struct Schedule: Sendable, Hashable {
    public var interval: TimeSpan
    public var fullEvery: TimeSpan?

    public init(interval: TimeSpan, fullEvery: TimeSpan? = nil) {
        self.interval = interval
        self.fullEvery = fullEvery
    }

    /// A tick is still taken when it can start within this much of its time (a quarter interval, at most
    /// 1 s); later than that it counts as missed and the recorder waits for the next one.
    public var lateness: Int64 { min(interval.nanoseconds / 4, 1_000_000_000) }

    /// Which tick to take next after finishing tick `last` at `elapsed` nanoseconds since the start, and how
    /// many ticks in between are missed.
    public func next(after last: Int64, elapsed: Int64) -> (tick: Int64, missed: Int64) {
        let step = interval.nanoseconds
        let due = elapsed / step  // the latest tick whose time has come
        if due <= last { return (last + 1, 0) }
        if elapsed - due * step <= lateness { return (due, due - last - 1) }
        return (due + 1, due - last)
    }

    /// Ticks between full scans (at least 1).
    var ticksPerFullScan: Int64? {
        fullEvery.map { max(1, ($0.milliseconds + interval.milliseconds / 2) / interval.milliseconds) }
    }
}

/// What a recorder did.
public struct RecorderSummary: Sendable, Hashable {
    public var samples = 0
    public var fullScans = 0
    public var missed: Int64 = 0
    /// CPU time (user + system) of the process while recording, microseconds.
    public var cpuMicroseconds: Int64 = 0
    /// Wall time recording, nanoseconds.
    public var elapsedNanoseconds: Int64 = 0
    /// The signal that stopped it, if one did.
    public var signal: Int32?

    /// CPU used as a share of one core: `cpu / elapsed`.
    public var cpuShare: Double {
        elapsedNanoseconds > 0 ? Double(cpuMicroseconds) * 1000 / Double(elapsedNanoseconds) : 0
    }

    /// `120 samples, 2 full scans, 0 missed, CPU 85 ms (0.71 ms/sample, 0.07% of a core)`.
    public var description: String {
        let perSample = samples > 0 ? Double(cpuMicroseconds) / 1000 / Double(samples) : 0
        return
            "\(samples) samples, \(fullScans) full scans, \(missed) missed, CPU \(cpuMicroseconds / 1000) ms "
            + "(\(TextWriter.string { $0.write(perSample, decimals: 2) }) ms/sample, "
            + "\(TextWriter.string { $0.write(self.cpuShare * 100, decimals: 2) })% of a core)"
    }
}

/// Where a ``Recorder`` writes: a ``HistoryStore``, or a scripted one in tests.
public protocol HistoryWriter: AnyObject {
    /// The current run, once ``beginRun(_:)`` succeeded (and until ``endRun(at:)``).
    var runID: Int64? { get }
    func beginRun(_ info: HistoryStore.RunInfo) throws(HistoryError)
    func endRun(at time: Double) throws(HistoryError)
    func insert(_ sample: Sample, tick: Int64, ports: PortSnapshot?) throws(HistoryError)
    /// Deletes at most `limit` samples older than `cutoff`, the oldest; returns how many.
    @discardableResult func prune(before cutoff: Double, limit: Int) throws(HistoryError) -> Int
}

extension HistoryStore: HistoryWriter {}

/// Samples on schedule and hands each sample to the store and to `onSample`.
///
/// The schedule is absolute: tick `k` is due at `start + k * interval` on `CLOCK_MONOTONIC`, so time spent
/// sampling and writing never shifts later ticks. A tick that cannot start in time (the previous sample or
/// write overran, or the process woke up late) is not taken late: it is counted in the next sample's `missed`.
///
/// A full disk does not stop it: a write that fails with ``HistoryError/diskFull(path:)`` is tried once more
/// after pruning by ``retention``; if the disk is still full the sample is skipped (counted as missed in the
/// next row written, not handed to `onSample`), one line is logged (then one per ``fullDiskLogEvery`` while it
/// lasts, and one when writing resumes), and the next tick tries again. SQLite rolls a failed transaction back,
/// so the rows written before stay as they were.
///
/// A namespace that is gone (the process its pid named exited, its name was deleted) stops it: a sample is
/// checked (``SampleSource/checkSource()``) before it is written, and the run ends with ``NamespaceGone``.
/// Going on would record a namespace without sockets, or another one, as if it were the one named; a service
/// manager restarts the recorder, whose start then says whether the name leads to a namespace again.
public final class Recorder {
    public let sampler: any SampleSource
    public let store: (any HistoryWriter)?
    /// The run that ``run()`` begins in `store` (at once, or at the first write a full disk lets through) and
    /// ends on its way out.
    public let runInfo: HistoryStore.RunInfo?
    public let schedule: Schedule
    public let clock: any RecorderClock
    public var retention: TimeSpan?
    /// Stop after this many samples.
    public var count: Int?
    /// Top destinations kept per full scan.
    public var topDestinations = 10
    /// Called after each sample is stored.
    public var onSample: ((Sample, PortSnapshot?) throws -> Void)?
    /// Log lines (start, a summary every `logEvery`, missed ticks, a full disk, stop).
    public var onLog: ((String) -> Void)?
    public var logEvery = TimeSpan.seconds(3600)
    /// Samples deleted by the retention per transaction at most (a backlog goes one chunk per tick).
    public var pruneLimit = HistoryStore.pruneLimit
    /// While the disk stays full, one log line per this much time.
    public var fullDiskLogEvery = TimeSpan.seconds(60)
    /// Missed ticks: one log line at the first, then at most one per this much time with the count since the
    /// previous line (a loaded machine at a short interval misses ticks at every sample).
    public var missedLogEvery = TimeSpan.seconds(60)

    /// - Parameters:
    ///   - store: where samples go (`nil`: only to `onSample`), with `run`, the run they belong to.
    public init(
        sampler: any SampleSource, store: (any HistoryWriter)?, run: HistoryStore.RunInfo?, schedule: Schedule,
        clock: any RecorderClock = SystemClock()
    ) {
        precondition(store == nil || run != nil, "a store needs a run")
        self.sampler = sampler
        self.store = store
        self.runInfo = run
        self.schedule = schedule
        self.clock = clock
    }

    /// The full-disk episode under way: when it began and was last logged, samples skipped in it.
    private var full: (since: Int64, logged: Int64, skipped: Int)?
    /// Missed ticks not logged yet: when the last line was logged, the ticks and the times since.
    private var missedLog: (logged: Int64, ticks: Int64, times: Int)?

    /// Records until a stop signal (call ``StopSignals/block()`` first, before other threads start) or
    /// until ``count`` samples, then marks the run stopped, on every way out (an error too) where the database
    /// takes the write.
    ///
    /// - Throws: ``HistoryError`` when the database cannot be written for another reason than a full disk (it
    ///   keeps every earlier sample), ``NamespaceGone``, or what the sampler or `onSample` throws.
    public func run() throws -> RecorderSummary {
        full = nil
        missedLog = nil
        let summary: RecorderSummary
        defer { flushMissed() }
        do {
            summary = try record()
        } catch {
            // The error is what the operator needs to see; the run is stopped on a best-effort basis.
            _ = try? endRun()
            throw error
        }
        if try !endRun() {  // stopped, the disk still full
            onLog?("the disk is full: the run could not be marked stopped (the next one marks it crashed)")
        }
        return summary
    }

    private func record() throws -> RecorderSummary {
        var summary = RecorderSummary()
        let cpuStart = clock.processCPU()
        // The run row at once, unless the disk is full (then at the first sample that can be written).
        if let store, let runInfo {
            if let full = try writeFreeingSpace({ () throws(HistoryError) in try store.beginRun(runInfo) }) {
                diskStillFull(full, skipping: false)
            }
        }
        // The schedule starts once the run row is written, with tick 0 at once: a slow first commit (an fsync
        // stalled by other writers) neither misses ticks nor puts tick 0 late on its own grid.
        let start = clock.monotonic()
        var lastCPU = cpuStart
        var tick: Int64 = 0
        var missed: Int64 = 0
        var nextFullTick: Int64 = 0
        let retentionEvery = Int64(3_600) * 1_000_000_000
        var nextPrune = start
        var nextLog = start + logEvery.nanoseconds
        while true {
            if tick > 0 {
                let deadline = start + tick * schedule.interval.nanoseconds
                if let signal = clock.wait(untilMonotonic: deadline) {
                    summary.signal = signal
                    break
                }
                // Woken too late (the machine was busy): this tick is missed too, never taken late.
                let elapsed = clock.monotonic() - start
                if elapsed - tick * schedule.interval.nanoseconds > schedule.lateness {
                    let next = schedule.next(after: tick - 1, elapsed: elapsed)
                    if next.tick != tick {
                        logMissed(
                            next.missed,
                            because: "woke \((elapsed - tick * schedule.interval.nanoseconds) / 1_000_000) ms late")
                        missed += next.missed
                        summary.missed += next.missed
                        tick = next.tick
                        continue
                    }
                }
            }
            let began = clock.monotonic()
            var sample = try sampler.take(time: clock.wall())
            var ports: PortSnapshot?
            if let every = schedule.ticksPerFullScan, tick >= nextFullTick {
                ports = try sampler.ports(top: topDestinations)
                sample.portUtilization = ports?.worstUtilization
                sample.worstDestination = ports?.top.first
                nextFullTick = (tick / every + 1) * every
                summary.fullScans += 1
            }
            // Taken from what the namespace's descriptor still reaches: not written once it is gone.
            try sampler.checkSource()
            let cpu = clock.processCPU()
            let scanned = clock.monotonic()
            sample.missed = Int(missed)
            sample.cpuMicroseconds = cpu - lastCPU
            sample.sampleMicroseconds = (scanned - began) / 1000
            lastCPU = cpu
            if try write(sample, tick: tick, ports: ports) {
                try onSample?(sample, ports)
                summary.samples += 1
                missed = 0
                if let count, summary.samples >= count { break }
            } else {
                missed += 1
                summary.missed += 1
            }

            let now = clock.monotonic()
            if retention != nil, store != nil, now >= nextPrune {
                // A full chunk: more may be left; the next one at the next tick, not in an hour.
                nextPrune = try pruneByRetention() < pruneLimit ? now + retentionEvery : now
            }
            if now >= nextLog {
                summary.cpuMicroseconds = clock.processCPU() - cpuStart
                summary.elapsedNanoseconds = now - start
                onLog?(summary.description)
                nextLog += logEvery.nanoseconds
            }
            let next = schedule.next(after: tick, elapsed: now - start)
            if next.missed > 0 {
                logMissed(
                    next.missed,
                    because:
                        "the sample took \((now - began) / 1_000_000) ms (the scan \((scanned - began) / 1_000_000) ms, "
                        + "writing it \((now - scanned) / 1_000_000) ms), interval \(schedule.interval)")
            }
            tick = next.tick
            missed += next.missed
            summary.missed += next.missed
        }
        summary.cpuMicroseconds = clock.processCPU() - cpuStart
        summary.elapsedNanoseconds = clock.monotonic() - start
        return summary
    }

    /// Writes a sample (beginning the run first if a full disk kept it from starting).
    ///
    /// - Returns: `false` when the disk is full (the sample is skipped).
    private func write(_ sample: Sample, tick: Int64, ports: PortSnapshot?) throws(HistoryError) -> Bool {
        guard let store, let runInfo else { return true }
        let failure = try writeFreeingSpace { () throws(HistoryError) in
            if store.runID == nil { try store.beginRun(runInfo) }
            try store.insert(sample, tick: tick, ports: ports)
        }
        if let failure {
            diskStillFull(failure, skipping: true)
            return false
        }
        if let full {
            onLog?(
                "writing again: \(full.skipped) sample\(full.skipped == 1 ? "" : "s") skipped while the disk was full "
                    + "(\((clock.monotonic() - full.since) / 1_000_000_000) s)")
            self.full = nil
        }
        return true
    }

    /// Marks the run stopped (if it began).
    ///
    /// - Returns: `false` when the disk is full.
    private func endRun() throws(HistoryError) -> Bool {
        guard let store, store.runID != nil else { return true }
        return try writeFreeingSpace { () throws(HistoryError) in try store.endRun(at: clock.wall()) } == nil
    }

    /// Runs `body`; when the disk is full, prunes by the retention and runs it once more.
    ///
    /// - Returns: `nil` once written, the ``HistoryError/diskFull(path:)`` error when the disk is still full.
    /// - Throws: any other error of `body`.
    private func writeFreeingSpace(_ body: () throws(HistoryError) -> Void) throws(HistoryError) -> HistoryError? {
        do throws(HistoryError) {
            try body()
            return nil
        } catch .diskFull {
            // Go on below.
        }
        try pruneByRetention()
        do throws(HistoryError) {
            try body()
            return nil
        } catch .diskFull(let path) {
            return .diskFull(path: path)
        }
    }

    /// Deletes samples older than the retention, ``pruneLimit`` at most. A full disk can refuse that too (a
    /// delete needs room in the write-ahead log): then nothing is deleted.
    ///
    /// - Returns: the number of samples deleted.
    @discardableResult
    private func pruneByRetention() throws(HistoryError) -> Int {
        guard let retention, let store else { return 0 }
        do throws(HistoryError) {
            let removed = try store.prune(before: clock.wall() - retention.seconds, limit: pruneLimit)
            if removed > 0 { onLog?("pruned \(removed) samples older than \(retention)") }
            return removed
        } catch .diskFull {
            return 0  // the caller finds the disk still full
        }
    }

    /// Logs `ticks` missed ticks: at once the first time, then at most once per ``missedLogEvery``, with the
    /// ticks missed since the previous line.
    private func logMissed(_ ticks: Int64, because reason: String) {
        let now = clock.monotonic()
        guard var pending = missedLog else {
            onLog?("missed \(Self.ticks(ticks)): \(reason)")
            missedLog = (now, 0, 0)
            return
        }
        pending.ticks += ticks
        pending.times += 1
        if now - pending.logged >= missedLogEvery.nanoseconds {
            onLog?(Self.missedLine(pending, now: now, latest: reason))
            pending = (now, 0, 0)
        }
        missedLog = pending
    }

    /// Logs the missed ticks not logged yet (at the end of a run).
    private func flushMissed() {
        guard let pending = missedLog, pending.ticks > 0 else { return }
        onLog?(Self.missedLine(pending, now: clock.monotonic(), latest: nil))
        missedLog = (clock.monotonic(), 0, 0)
    }

    /// `missed 37 ticks in 60 s (12 times; the latest: the sample took 250 ms (the scan 240 ms, writing it 10 ms),
    /// interval 100ms)`.
    private static func missedLine(_ pending: (logged: Int64, ticks: Int64, times: Int), now: Int64, latest: String?)
        -> String
    {
        "missed \(ticks(pending.ticks)) in \((now - pending.logged) / 1_000_000_000) s (\(pending.times) "
            + "time\(pending.times == 1 ? "" : "s")\(latest.map { "; the latest: \($0)" } ?? ""))"
    }

    private static func ticks(_ n: Int64) -> String { "\(n) tick\(n == 1 ? "" : "s")" }

    /// Logs a full disk: at once, then once per ``fullDiskLogEvery`` while it lasts.
    private func diskStillFull(_ error: HistoryError, skipping: Bool) {
        let now = clock.monotonic()
        guard case .diskFull(let path) = error else { return }
        let what = "the disk holding \(path) is full"
        if var episode = full {
            if skipping { episode.skipped += 1 }
            if now - episode.logged >= fullDiskLogEvery.nanoseconds {
                onLog?(
                    "\(what) still: \(episode.skipped) sample\(episode.skipped == 1 ? "" : "s") skipped "
                        + "in \((now - episode.since) / 1_000_000_000) s; free some space")
                episode.logged = now
            }
            full = episode
        } else {
            onLog?(
                "\(what): samples are skipped (counted as missed) until there is room again; the rows written "
                    + "so far are intact")
            full = (now, now, skipping ? 1 : 0)
        }
    }
}
