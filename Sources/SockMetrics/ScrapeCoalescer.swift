#if canImport(Glibc)
    import Glibc
#endif

/// Serves many concurrent requests for a value that is expensive to make (a kernel scan) by making it
/// once: requests that arrive while a collection runs wait for that collection and share its result,
/// and a result is reused while it is younger than `maxAge`.
///
/// Collections run one at a time on one dedicated thread, made here and never a Swift Concurrency or
/// event-loop thread: the work may block (a dump of 500k sockets takes most of a second) and may hold
/// state that is not thread-safe, such as a ``SockDiag/Scanner``. A failure is handed to every waiter
/// of that collection and not cached.
///
/// The thread ends with ``shutdown()``, which waits for it, or when the coalescer is released without
/// one: the thread holds only the coalescer's shared state, never the coalescer, so releasing the last
/// reference stops it (after its running collection, without waiting for it).
public final class ScrapeCoalescer<Value: Sendable>: @unchecked Sendable {
    public typealias Completion = @Sendable (Result<Value, any Error>) -> Void

    /// How long a result is reused; `.zero` collects for every request that does not find one running.
    public let maxAge: Duration

    private let core: Core
    private let thread: pthread_t

    /// Starts the collecting thread.
    ///
    /// - Parameters:
    ///   - maxAge: how long a result is served again.
    ///   - now: the time a result's age is measured with (a test's clock, so it need not sleep).
    ///   - work: makes a value; runs only on the coalescer's own thread, never twice at once.
    /// - Throws: ``CoalescerError`` when the thread cannot be started.
    public init(
        maxAge: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        work: @escaping () throws -> Value
    ) throws {
        self.maxAge = maxAge
        core = Core(maxAge: maxAge, now: now, work: work)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(core as AnyObject).toOpaque()
        let rc = pthread_create(&thread, nil, collectingThreadMain, context)
        guard rc == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            throw CoalescerError(errno: rc)
        }
        self.thread = thread
    }

    /// Released without ``shutdown()``: the thread stops after its running collection (its waiters are
    /// served, later ones failed) and is detached, not joined, so that releasing never blocks, not even
    /// on the collecting thread itself (a completion may hold the last reference).
    deinit {
        if core.stop() { pthread_detach(thread) }
    }

    /// Collections made so far (each ran `work` once).
    public var collections: Int { core.locked { core.collectionCount } }

    /// The error of the last collection: nil when it succeeded or none has finished yet.
    public var lastError: (any Error)? { core.locked { core.lastFailure } }

    /// Hands `completion` the cached value when it is fresh, else the result of the running collection,
    /// else of a new one. `completion` runs on the collecting thread, or on the caller's when cached.
    public func get(_ completion: @escaping Completion) { core.get(completion) }

    /// Blocks the caller until a value is ready, for callers that are not on an event loop.
    public func get() throws -> Value {
        let box = ResultBox<Value>()
        get { box.put($0) }
        return try box.take().get()
    }

    /// Stops the thread after the running collection (waiters not yet served are failed) and joins it.
    public func shutdown() {
        if core.stop() { pthread_join(thread, nil) }
    }

    /// What the collecting thread shares with the coalescer; the thread holds this, not the coalescer.
    private final class Core: CollectingThreadWork, @unchecked Sendable {
        let maxAge: Duration
        let now: @Sendable () -> ContinuousClock.Instant
        let work: () throws -> Value
        let lock = ConditionLock()
        // Guarded by `lock`:
        var waiters: [Completion] = []
        var requested = false
        var running = false
        var stopping = false
        var cached: (value: Value, at: ContinuousClock.Instant)?
        var collectionCount = 0
        var lastFailure: (any Error)?

        init(
            maxAge: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant, work: @escaping () throws -> Value
        ) {
            self.maxAge = maxAge
            self.now = now
            self.work = work
        }

        func locked<T>(_ body: () -> T) -> T { lock.locked(body) }

        func get(_ completion: @escaping Completion) {
            let action: GetAction = locked {
                if stopping { return .stopped }
                if let cached, now() - cached.at < maxAge { return .cached(cached.value) }
                waiters.append(completion)
                if !running && !requested {
                    requested = true
                    lock.signal()
                }
                return .wait
            }
            switch action {
            case .cached(let value): completion(.success(value))
            case .wait: break
            case .stopped: completion(.failure(CoalescerError(errno: ECANCELED)))
            }
        }

        /// Asks the thread to stop.
        ///
        /// - Returns: whether this call did (false when it was asked before).
        func stop() -> Bool {
            locked {
                if stopping { return false }
                stopping = true
                lock.signal()
                return true
            }
        }

        func loop() {
            while true {
                let stop: Bool = locked {
                    while !requested && !stopping { lock.wait() }
                    if stopping { return true }
                    requested = false
                    running = true
                    return false
                }
                if stop { break }
                let result = Result { try work() }
                let served: [Completion] = locked {
                    running = false
                    collectionCount += 1
                    switch result {
                    case .success(let value):
                        cached = (value, now())
                        lastFailure = nil
                    case .failure(let error):
                        lastFailure = error
                    }
                    defer { waiters = [] }
                    return waiters
                }
                for completion in served { completion(result) }
            }
            let abandoned: [Completion] = locked {
                defer { waiters = [] }
                return waiters
            }
            for completion in abandoned { completion(.failure(CoalescerError(errno: ECANCELED))) }
        }

        private enum GetAction {
            case cached(Value)
            case wait
            case stopped
        }
    }
}

/// The loop a collecting thread runs (type-erased so the C entry point needs no generic).
private protocol CollectingThreadWork: AnyObject {
    func loop()
}

/// The pthread entry point of a coalescer's thread.
private func collectingThreadMain(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let object = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue()
    (object as! any CollectingThreadWork).loop()
    return nil
}

/// A mutex and a condition variable at stable addresses.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Waits for a signal; call only inside ``locked(_:)``.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Wakes one waiter; call inside ``locked(_:)``.
    func signal() { pthread_cond_signal(condition) }
}

/// The collecting thread could not be started, or the coalescer was shut down.
public struct CoalescerError: Error, Hashable, Sendable, CustomStringConvertible {
    public var errno: Int32

    public var description: String {
        errno == ECANCELED
            ? "the exporter is shutting down" : "cannot start the scan thread: \(String(cString: strerror(errno)))"
    }
}

/// One result handed from the collecting thread to a blocked caller.
private final class ResultBox<Value: Sendable>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var result: Result<Value, any Error>?

    func put(_ value: Result<Value, any Error>) {
        lock.locked {
            result = value
            lock.signal()
        }
    }

    func take() -> Result<Value, any Error> {
        lock.locked {
            while result == nil { lock.wait() }
            return result!
        }
    }
}
