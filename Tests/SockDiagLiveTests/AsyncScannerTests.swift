import SockDiag
import SockScanTestSupport
import Synchronization
import SystemPackage
import Testing

/// Batches the async hand-over queues before its producer waits (SocketChannel.capacity, plus the one taken).
enum SocketChannelBound {
    static let batches = 5
}

#if canImport(Glibc)
    import Glibc
#endif

/// The async API: results equal to the closure API's, batches handed over with backpressure, and a dump that
/// stops (its socket closed, its thread gone) when the consumer leaves or the task is cancelled.
@Suite("Async scanning", .liveMix(extraPairs: 2000))
struct AsyncScannerTests {
    static let everything = ScanQuery(protocols: .all, states: .all)

    @Test("count, records and sockets give what the closure API gives, and what the mix holds")
    func sameResults() async throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let counts: StateCounts = try await scanner.count(Self.everything)
        #expect(Int(counts.total) == fixture.mix.expected.count)
        #expect(counts == (try Self.syncCount(scanner)))

        let records: [SocketRecord] = try await scanner.records(Self.everything)
        expectSame(tupleSet(records), fixture.mix.expected, "async records")

        var streamed: [SocketRecord] = []
        for try await socket in scanner.sockets(Self.everything) { streamed.append(socket) }
        // More than a few batches of 256 crossed the hand-over.
        #expect(streamed.count > 4 * 256)
        expectSame(tupleSet(streamed), fixture.mix.expected, "async sockets")
    }

    @Test("leaving the loop early stops the dump: the scanner is free at once, the next scan is whole")
    func earlyExit() async throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        #expect(fixture.mix.expected.count > (SocketChannelBound.batches + 2) * 256, "the dump must outlast the queue")
        var seen = 0
        for try await _ in scanner.sockets(Self.everything) {
            seen += 1
            if seen == 10 { break }
        }
        #expect(seen == 10)
        // The producer was blocked on the full queue, holding the scanner: dropping the iterator cancels it.
        let count = await Self.within(seconds: 5) { try await scanner.count(Self.everything) }
        #expect(count?.total == UInt64(fixture.mix.expected.count), "the abandoned dump still holds the scanner")
    }

    @Test("cancelling the consuming task stops the dump with CancellationError; the scanner keeps working")
    func cancellation() async throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let started = AsyncStream.makeStream(of: Void.self)
        let task = Task { () async throws -> Int in
            var n = 0
            for try await _ in scanner.sockets(Self.everything) {
                n += 1
                if n == 1 { started.continuation.yield() }
                try? await Task.sleep(for: .milliseconds(5))  // a slow consumer: the producer waits
            }
            return n
        }
        for await _ in started.stream { break }
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        expectSame(tupleSet(try await scanner.records(Self.everything)), fixture.mix.expected, "after cancelling")

        // A count cancelled before it starts throws at once.
        let cancelled = Task { () async throws -> StateCounts in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await scanner.count(Self.everything)
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
    }

    @Test("scans from several tasks at once on one scanner run one after another and all come out whole")
    func concurrentScans() async throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let totals = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<4 { group.addTask { try await scanner.count(Self.everything).total } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(totals == Array(repeating: UInt64(fixture.mix.expected.count), count: 4))
    }

    @Test("a scan started inside another scan's closure on the same scanner is an error, not a deadlock")
    func reentry() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        #expect {
            try scanner.forEach(Self.everything) { _ in _ = try scanner.count(Self.everything) }
        } throws: { error in
            guard case .invalidQuery(let text)? = error as? SockDiagError else { return false }
            return text.contains("inside another scan") && (error as? SockDiagError)?.category == .usage
        }
        #expect(try scanner.count(Self.everything).total == UInt64(fixture.mix.expected.count))
    }

    /// The closure API's count (a synchronous context picks the synchronous overload).
    static func syncCount(_ scanner: Scanner) throws -> StateCounts { try scanner.count(everything) }

    /// `work`'s result, or `nil` when it takes longer than `seconds` (it is then left running: a task group
    /// would wait for it).
    static func within<T: Sendable>(seconds: Int, _ work: @escaping @Sendable () async throws -> T) async -> T? {
        let race = Race<T>()
        return await withCheckedContinuation { continuation in
            race.arm(continuation)
            Task.detached { race.finish(try? await work()) }
            Task.detached {
                try? await Task.sleep(for: .seconds(seconds))
                race.finish(nil)
            }
        }
    }
}

/// The first of two results resumes a continuation; the second is dropped.
final class Race<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T?, Never>?>(nil)

    func arm(_ continuation: CheckedContinuation<T?, Never>) { self.continuation.withLock { $0 = continuation } }

    func finish(_ value: T?) {
        let waiting = continuation.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
        waiting?.resume(returning: value)
    }
}

/// What `prepare` works out, and the errors' categories.
@Suite("Prepared scans", .liveMix())
struct PreparedScanTests {
    @Test("a filter naming states starts from all states (ss's rule); one naming none keeps the query's")
    func baseStates() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let named = try scanner.prepare(
            ScanQuery(states: .ssDefault, filter: try Filter(parsing: "state time-wait or state listen")))
        #expect(named.states == StateSet([.timeWait, .listen]))
        let unnamed = try scanner.prepare(ScanQuery(states: .ssDefault, filter: try Filter(parsing: "dport = :443")))
        #expect(unnamed.states == .ssDefault)
        #expect(unnamed.program.remotePort == 443)
        #expect(unnamed.remainder == nil)
        #expect(unnamed.explanation.contains("the kernel does all the filtering"))
        // Counting with the plan gives what the plan says it covers.
        let counts = try scanner.count(named)
        #expect(Int(counts[.listen]) == fixture.mix.counts(.tcp)[.listen] ?? 0)
    }

    @Test("the /proc path: --explain says the kernel filters nothing, and dev/autobound are refused")
    func procfs() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner(source: .procfs)
        let plan = try scanner.prepare(ScanQuery(filter: try Filter(parsing: "dport >= :1024")))
        #expect(plan.source == .procfs)
        #expect(plan.explanation.contains("kernel: nothing"))
        #expect(!plan.explanation.contains("the kernel does all the filtering"))
        for text in ["dev lo", "not dev lo", "autobound"] {
            #expect(Comment(rawValue: text)) {
                try scanner.prepare(ScanQuery(filter: try Filter(parsing: text)))
            } throws: { error in
                guard case .unsupported? = error as? SockDiagError else { return false }
                return (error as? SockDiagError)?.category == .unsupported
            }
        }
    }

    @Test("errors carry a category a caller can act on")
    func categories() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        #expect {
            try scanner.prepare(ScanQuery(bytecode: [0, 4, 8, 0], filter: try Filter(parsing: "sport = :1")))
        } throws: { ($0 as? SockDiagError)?.category == .usage }
        #expect {
            try scanner.prepare(ScanQuery(filter: try Filter(parsing: "dev nosuchdev0")))
        } throws: { error in
            guard case .filter(.unknownDevice("nosuchdev0"))? = error as? SockDiagError else { return false }
            return true
        }
        #expect(SockDiagError.kernel(NetlinkError(errno: .notPermitted, operation: "x")).category == .permission)
        #expect(
            SockDiagError.kernel(NetlinkError(errno: .noSuchFileOrDirectory, operation: "x")).category == .unsupported)
        #expect(SockDiagError.kernel(NetlinkError(errno: .noBufferSpace, operation: "x")).errno == .noBufferSpace)
    }
}
