import SockHistory
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// A ``RecorderClock`` that only moves when the recorder sleeps or a scripted sample takes time: every
/// instant a recorder sees is known exactly.
final class ScriptedClock: RecorderClock {
    /// Monotonic nanoseconds (an arbitrary origin, as CLOCK_MONOTONIC's).
    var now: Int64 = 5_000_000_000
    /// The wall clock at monotonic 0, seconds since 1970 (a whole number keeps the arithmetic exact).
    let wallOrigin = 1_700_000_000.0
    /// Each `wait` call's deadline, in order.
    private(set) var deadlines: [Int64] = []
    /// How late the recorder wakes from its n-th wait (1-based), nanoseconds.
    var oversleep: [Int: Int64] = [:]
    /// SIGTERM arrives at this monotonic time: the wait that would sleep past it returns it.
    var stopAt: Int64?

    func monotonic() -> Int64 { now }
    func wall() -> Double { wallOrigin + Double(now) / 1e9 }
    func processCPU() -> Int64 { now / 1000 / 100 }  // 1% of a core

    func wait(untilMonotonic deadline: Int64) -> Int32? {
        deadlines.append(deadline)
        if let stopAt, deadline >= stopAt {
            now = max(now, stopAt)
            return SIGTERM
        }
        now = max(now, deadline) + oversleep[deadlines.count, default: 0]
        return nil
    }

    /// Monotonic `t` as the wall clock.
    func wall(at t: Int64) -> Double { wallOrigin + Double(t) / 1e9 }
}

/// A ``SampleSource`` whose samples take scripted time on a ``ScriptedClock`` (or throw).
final class ScriptedSource: SampleSource {
    let clock: ScriptedClock
    /// How long the n-th sample (0-based) takes, nanoseconds; `duration` otherwise.
    var durations: [Int: Int64] = [:]
    var duration: Int64 = 1_000_000
    /// The n-th sample (0-based) throws this.
    var failures: [Int: any Error] = [:]
    /// Monotonic times at which samples and port scans were taken.
    private(set) var taken: [Int64] = []
    private(set) var scans: [Int64] = []

    init(clock: ScriptedClock) { self.clock = clock }

    func take(time: Double) throws -> Sample {
        let n = taken.count
        taken.append(clock.now)
        if let failure = failures[n] { throw failure }
        clock.now += durations[n, default: duration]
        var sample = Sample(time: time)
        sample[.tcpTW] = Double(n)
        return sample
    }

    func ports(top: Int) throws -> PortSnapshot {
        scans.append(clock.now)
        return PortSnapshot(worstUtilization: 0.5, capacity: 100, destinationCount: 1, udpPorts: 0, top: [])
    }
}

struct ScriptedFailure: Error {}

/// A ``HistoryWriter`` that keeps what it is given, and whose disk is full when the test says so.
final class ScriptedWriter: HistoryWriter {
    static let path = "/scripted/history.db"
    private(set) var runID: Int64?
    /// Whether a write fails with `.diskFull` now.
    var isFull: () -> Bool = { false }
    /// Throws this on the next insert (another error than a full disk).
    var failure: HistoryError?
    /// Rows older than the retention: a prune that deletes some makes room for one write even while `isFull`.
    var prunable = 0
    private var room = false

    private(set) var begun: [HistoryStore.RunInfo] = []
    private(set) var ended: [Double] = []
    private(set) var rows: [(tick: Int64, missed: Int)] = []
    private(set) var prunes = 0
    /// What each prune deleted.
    private(set) var pruned: [Int] = []

    private func allocate() throws(HistoryError) {
        if room {
            room = false
        } else if isFull() {
            throw .diskFull(path: Self.path)
        }
    }

    /// Called as the run row is written (to make that write take scripted time).
    var onBeginRun: (() -> Void)?

    func beginRun(_ info: HistoryStore.RunInfo) throws(HistoryError) {
        onBeginRun?()
        try allocate()
        begun.append(info)
        runID = Int64(begun.count)
    }

    func endRun(at time: Double) throws(HistoryError) {
        try allocate()
        ended.append(time)
        runID = nil
    }

    func insert(_ sample: Sample, tick: Int64, ports: PortSnapshot?) throws(HistoryError) {
        precondition(runID != nil, "insert before beginRun")
        if let failure { throw failure }
        try allocate()
        rows.append((tick, sample.missed))
    }

    func prune(before cutoff: Double, limit: Int) throws(HistoryError) -> Int {
        prunes += 1
        let deleted = min(prunable, limit)
        prunable -= deleted
        if deleted > 0 { room = true }
        pruned.append(deleted)
        return deleted
    }
}
