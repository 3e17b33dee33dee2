import Foundation
import SockMetrics
import SockReport
import SockScanTestSupport
import Testing

/// Collects results handed to completions.
final class Results<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private(set) var values: [Result<Value, any Error>] = []

    func add(_ result: Result<Value, any Error>) {
        condition.lock()
        values.append(result)
        condition.broadcast()
        condition.unlock()
    }

    func wait(for count: Int, timeout: Double = 5) -> [Result<Value, any Error>] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while values.count < count { if !condition.wait(until: deadline) { break } }
        return values
    }
}

struct Failure: Error {}

/// Calls `onDeinit` when released.
final class Sentinel: Sendable {
    let onDeinit: @Sendable () -> Void
    init(_ onDeinit: @escaping @Sendable () -> Void) { self.onDeinit = onDeinit }
    deinit { onDeinit() }
}

/// A clock that moves only when told to.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private let start = ContinuousClock.now
    private var elapsed = Duration.zero

    var now: ContinuousClock.Instant { lock.withLock { start + elapsed } }

    func advance(by duration: Duration) { lock.withLock { elapsed += duration } }
}

@Suite("Scrape coalescing")
struct CoalescerTests {
    @Test func concurrentRequestsShareOneCollection() throws {
        let gate = Gate()
        let counter = Results<Int>()
        nonisolated(unsafe) var made = 0
        let coalescer = try ScrapeCoalescer<Int>(maxAge: .zero) {
            gate.pass()
            made += 1
            return made
        }
        defer { coalescer.shutdown() }
        // The first request starts a collection, which waits at the gate; 99 more arrive meanwhile.
        coalescer.get { counter.add($0) }
        #expect(gate.waitForArrivals(1))
        DispatchQueue.concurrentPerform(iterations: 99) { _ in coalescer.get { counter.add($0) } }
        gate.release()
        let results = counter.wait(for: 100)
        #expect(results.count == 100)
        #expect(results.allSatisfy { (try? $0.get()) == 1 })
        #expect(coalescer.collections == 1)
        // With no cache, the next request collects again.
        #expect(try coalescer.get() == 2)
        #expect(coalescer.collections == 2)
    }

    /// The cache's age is read from a clock the test moves, so no window can be missed on a loaded machine.
    @Test func cachedResultIsReusedUntilItAges() throws {
        let clock = ManualClock()
        nonisolated(unsafe) var made = 0
        let coalescer = try ScrapeCoalescer<Int>(maxAge: .seconds(10), now: { clock.now }) {
            made += 1
            return made
        }
        defer { coalescer.shutdown() }
        #expect(try coalescer.get() == 1)
        for _ in 0..<50 { #expect(try coalescer.get() == 1) }
        clock.advance(by: .milliseconds(9_999))
        #expect(try coalescer.get() == 1)
        #expect(coalescer.collections == 1)
        clock.advance(by: .milliseconds(1))
        #expect(try coalescer.get() == 2)
        #expect(try coalescer.get() == 2)
        #expect(coalescer.collections == 2)
    }

    @Test func failuresReachEveryWaiterAndAreNotCached() throws {
        let gate = Gate()
        nonisolated(unsafe) var calls = 0
        let coalescer = try ScrapeCoalescer<Int>(maxAge: .seconds(60)) {
            calls += 1
            if calls == 1 {
                gate.pass()
                throw Failure()
            }
            return calls
        }
        defer { coalescer.shutdown() }
        let results = Results<Int>()
        for _ in 0..<5 { coalescer.get { results.add($0) } }
        #expect(gate.waitForArrivals(1))
        gate.release()
        let got = results.wait(for: 5)
        #expect(got.count == 5)
        #expect(got.allSatisfy { if case .failure = $0 { true } else { false } })
        #expect(try coalescer.get() == 2)
    }

    /// Released without shutdown(): the coalescer is freed and its thread ends, releasing the work (and
    /// what the work holds, here a sentinel object).
    @Test func releasedWithoutShutdownTheThreadEnds() throws {
        let released = Results<Bool>()
        weak var weakCoalescer: ScrapeCoalescer<Int>?
        do {
            let sentinel = Sentinel { released.add(.success(true)) }
            let coalescer = try ScrapeCoalescer<Int>(maxAge: .zero) {
                withExtendedLifetime(sentinel) { 1 }
            }
            weakCoalescer = coalescer
            #expect(try coalescer.get() == 1)
        }
        #expect(weakCoalescer == nil)
        #expect(released.wait(for: 1).count == 1, "the collecting thread still holds the work")
    }

    /// The last reference may go on the collecting thread itself (in a completion): no self-join.
    @Test func releasedOnItsOwnThread() throws {
        let done = Results<Int>()
        nonisolated(unsafe) var holder: ScrapeCoalescer<Int>? = try ScrapeCoalescer<Int>(maxAge: .zero) { 7 }
        holder!.get { result in
            holder = nil
            done.add(result)
        }
        let results = done.wait(for: 1)
        #expect(results.count == 1)
        #expect(results.first.flatMap { try? $0.get() } == 7)
    }

    @Test func shutdownFailsLaterRequests() throws {
        let coalescer = try ScrapeCoalescer<Int>(maxAge: .zero) { 1 }
        coalescer.shutdown()
        #expect(throws: CoalescerError.self) { try coalescer.get() }
    }
}

@Suite("Textfile")
struct TextfileTests {
    @Test func replacesAtomicallyWithMode0644() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-textfile-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sockscan.prom").path
        // A strict umask must not make the file unreadable to node_exporter.
        let saved = umask(0o077)
        defer { umask(saved) }
        try Textfile.write(Array("first 1\n".utf8), to: path)
        try Textfile.write(Array("second 2\n".utf8), to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second 2\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        // Nothing but the target is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sockscan.prom"])
    }

    @Test func failureNamesThePathAndLeavesNoTemporaryFile() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-none-\(UUID())/x.prom")
        let error = #expect(throws: TextfileError.self) { try Textfile.write([1], to: missing.path) }
        #expect(error?.errno == ENOENT)
        #expect(error?.description.contains("sockscan-none-") == true)
    }
}
