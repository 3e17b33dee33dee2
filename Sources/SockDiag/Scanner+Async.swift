import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

// The async face of Scanner: each call runs its dump on a thread of its own, so an actor or a task awaiting it
// never blocks a thread of the Swift Concurrency pool (a dump blocks in recvmsg), and cancelling the task
// stops the dump and closes its netlink socket (the next scan opens a new one).
extension Scanner {
    /// Counts the sockets that match `query`, per state, on a thread of its own.
    ///
    /// - Throws: ``SockDiagError``, or `CancellationError` when the task was cancelled (the dump stops).
    public func count(_ query: ScanQuery) async throws -> StateCounts {
        try await runCancellable { cancelled in try self.count(self.prepare(query), cancelled) }
    }

    /// Counts the sockets that match a prepared scan, per state, on a thread of its own.
    ///
    /// - Throws: ``SockDiagError``, or `CancellationError` when the task was cancelled (the dump stops).
    public func count(_ scan: PreparedScan) async throws -> StateCounts {
        try await runCancellable { cancelled in try self.count(scan, cancelled) }
    }

    /// Counts on the calling thread, stopping when `cancelled` is set.
    private func count(_ scan: PreparedScan, _ cancelled: CancellationFlag) throws -> StateCounts {
        var counts = StateCounts()
        _ = try self.run(scan, StateSink.self) { _, state in
            if cancelled.isSet { throw CancellationError() }
            counts.add(state)
        }
        return counts
    }

    /// Returns every socket that matches `query`, read on a thread of its own.
    ///
    /// - Throws: ``SockDiagError``, or `CancellationError` when the task was cancelled (the dump stops).
    public func records(_ query: ScanQuery) async throws -> [SocketRecord] {
        try await runCancellable { cancelled in
            var records: [SocketRecord] = []
            try self.forEach(query) { record in
                if cancelled.isSet { throw CancellationError() }
                records.append(record)
            }
            return records
        }
    }

    /// The sockets that match `query`, as an asynchronous sequence.
    ///
    /// Iterating starts the dump on a thread of its own, which hands records over in small batches and waits
    /// while the consumer is behind (the kernel waits too: nothing piles up). Leaving the loop early, or
    /// cancelling the task, stops the dump and closes its socket.
    ///
    /// ```swift
    /// for try await socket in scanner.sockets(ScanQuery(states: StateSet(.timeWait))) {
    ///     print(socket.remote)
    /// }
    /// ```
    public func sockets(_ query: ScanQuery) -> SocketSequence {
        SocketSequence(scanner: self, scan: .query(query))
    }

    /// The sockets that match a prepared scan, as an asynchronous sequence (see `sockets(_:)`).
    public func sockets(_ scan: PreparedScan) -> SocketSequence {
        SocketSequence(scanner: self, scan: .prepared(scan))
    }

    /// Runs `work` on a new thread, with a flag that task cancellation sets.
    private func runCancellable<T: Sendable>(
        _ work: @escaping @Sendable (CancellationFlag) throws -> T
    ) async throws -> T {
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await DedicatedThread.run { try work(cancelled) }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// The sockets of one query, streamed from a dump running on a thread of its own (`sockets(_:)`).
public struct SocketSequence: AsyncSequence, Sendable {
    public typealias Element = SocketRecord
    public typealias Failure = any Error

    /// What to scan: a query (prepared on the dump's thread) or a prepared scan.
    enum Scan: Sendable {
        case query(ScanQuery)
        case prepared(PreparedScan)
    }

    let scanner: Scanner
    let scan: Scan

    /// An iterator; the dump starts at its first ``AsyncIterator/next()``.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(consumer: Consumer(scanner: scanner, scan: scan))
    }

    /// The consuming side: starts the dump on first use and stops it when dropped.
    final class Consumer: @unchecked Sendable {
        private let channel = BatchChannel<SocketRecord>()
        private let scanner: Scanner
        private let scan: Scan
        private var started = false

        init(scanner: Scanner, scan: Scan) {
            self.scanner = scanner
            self.scan = scan
        }

        deinit { channel.cancel() }

        /// The next batch, `nil` at the end; the first call starts the dump.
        func nextBatch() async throws -> [Element]? {
            if !started {
                started = true
                try start()
            }
            return try await channel.receive()
        }

        private func start() throws {
            let channel = self.channel
            let scanner = self.scanner
            let scan = self.scan
            try DedicatedThread.start {
                do {
                    let prepared: PreparedScan
                    switch scan {
                    case .query(let query): prepared = try scanner.prepare(query)
                    case .prepared(let given): prepared = given
                    }
                    var batch: [Element] = []
                    batch.reserveCapacity(BatchChannel<SocketRecord>.batchSize)
                    try scanner.forEach(prepared) { record in
                        batch.append(record)
                        if batch.count == BatchChannel<SocketRecord>.batchSize {
                            try channel.send(batch)
                            batch = []
                            batch.reserveCapacity(BatchChannel<SocketRecord>.batchSize)
                        }
                    }
                    if !batch.isEmpty { try channel.send(batch) }
                    channel.finish(.success(()))
                } catch {
                    channel.finish(.failure(error))
                }
            }
        }
    }

    /// Iterates one dump. Dropping it before the end stops the dump.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        private var cursor = BatchCursor<SocketRecord>()

        init(consumer: Consumer) { self.consumer = consumer }

        /// The next socket, `nil` after the last.
        ///
        /// - Throws: ``SockDiagError`` from the dump, or `CancellationError` when the task was cancelled.
        public mutating func next() async throws -> SocketRecord? {
            let consumer = self.consumer
            return try await cursor.next { try await consumer.nextBatch() }
        }
    }
}

/// A flag set once, from any thread.
final class CancellationFlag: Sendable {
    private let flag = Atomic(false)

    /// Whether it was set.
    var isSet: Bool { flag.load(ordering: .relaxed) }

    /// Sets it.
    func set() { flag.store(true, ordering: .relaxed) }
}
