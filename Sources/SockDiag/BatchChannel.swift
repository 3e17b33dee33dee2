#if canImport(Glibc)
    import Glibc
#endif

/// A bounded hand-over of batches from a producing thread (a dump, an event monitor) to one asynchronous
/// consumer.
///
/// The producer blocks (on a condition variable, on its own thread) while `capacity` batches wait; the consumer
/// suspends (a continuation) while none do. Cancelling wakes both: the producer's next ``send(_:)`` throws
/// `CancellationError`, which stops the dump.
final class BatchChannel<Element: Sendable>: @unchecked Sendable {
    /// Elements per batch.
    static var batchSize: Int { 256 }
    /// Batches that may wait for the consumer.
    static var capacity: Int { 4 }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let space = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [[Element]] = []
    private var waiter: CheckedContinuation<[Element]?, any Error>?
    private var end: Result<Void, any Error>?
    private var cancelled = false
    /// Called once when the channel is cancelled, outside the lock (to wake a producer waiting elsewhere).
    var onCancel: (@Sendable () -> Void)?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(space, nil)
    }

    deinit {
        pthread_cond_destroy(space)
        pthread_mutex_destroy(mutex)
        space.deallocate()
        mutex.deallocate()
    }

    /// Hands a batch over, waiting while the queue is full.
    ///
    /// - Throws: `CancellationError` once the consumer has gone or was cancelled.
    func send(_ batch: [Element]) throws {
        pthread_mutex_lock(mutex)
        while queue.count >= Self.capacity && !cancelled { pthread_cond_wait(space, mutex) }
        if cancelled {
            pthread_mutex_unlock(mutex)
            throw CancellationError()
        }
        if let waiter {
            self.waiter = nil
            pthread_mutex_unlock(mutex)
            waiter.resume(returning: batch)
        } else {
            queue.append(batch)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Ends the stream: after the queued batches, the consumer sees the end or the error.
    func finish(_ result: Result<Void, any Error>) {
        pthread_mutex_lock(mutex)
        end = result
        let waiter = queue.isEmpty ? self.waiter : nil
        if waiter != nil { self.waiter = nil }
        pthread_mutex_unlock(mutex)
        waiter?.resume(with: result.map { nil })
    }

    /// Stops the stream: the producer's next send throws, a waiting consumer gets `CancellationError`.
    func cancel() {
        pthread_mutex_lock(mutex)
        cancelled = true
        let waiter = self.waiter
        self.waiter = nil
        pthread_cond_broadcast(space)
        pthread_mutex_unlock(mutex)
        waiter?.resume(throwing: CancellationError())
        onCancel?()
    }

    /// Whether the consumer has gone or was cancelled.
    var isCancelled: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return cancelled
    }

    /// The next batch, `nil` at the end.
    func receive() async throws -> [Element]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<[Element]?, any Error>) in
                pthread_mutex_lock(mutex)
                if cancelled {
                    pthread_mutex_unlock(mutex)
                    continuation.resume(throwing: CancellationError())
                } else if !queue.isEmpty {
                    let batch = queue.removeFirst()
                    pthread_cond_signal(space)
                    pthread_mutex_unlock(mutex)
                    continuation.resume(returning: batch)
                } else if let end {
                    pthread_mutex_unlock(mutex)
                    continuation.resume(with: end.map { nil })
                } else {
                    waiter = continuation
                    pthread_mutex_unlock(mutex)
                }
            }
        } onCancel: {
            cancel()
        }
    }
}

/// The consumer's place in the batches of a ``BatchChannel``: elements one by one, a new batch when one is used up.
struct BatchCursor<Element> {
    private var batch: [Element] = []
    private var index = 0

    /// The next element, fetching a batch when the current one is used up; `nil` when `fetch` says the end.
    mutating func next(_ fetch: () async throws -> [Element]?) async throws -> Element? {
        if index < batch.count {
            index += 1
            return batch[index - 1]
        }
        guard let next = try await fetch(), !next.isEmpty else { return nil }
        batch = next
        index = 1
        return next[0]
    }
}
