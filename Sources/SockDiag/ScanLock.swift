#if canImport(Glibc)
    import Glibc
#endif

/// A value guarded by a mutex that one scan holds from its request to its last message.
///
/// The mutex checks its owner (`PTHREAD_MUTEX_ERRORCHECK`): a thread that asks for it again while holding
/// it (a scan started from inside another scan's closure) gets an error instead of a deadlock.
final class ScanLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The value without the lock: for `init` and `deinit`, when no other reference exists.
    var unsafeValue: Value {
        get { value }
        set { value = newValue }
    }

    /// Runs `body` with the value, holding the lock.
    ///
    /// - Throws: ``SockDiagError/invalidQuery(_:)`` when this thread holds the lock already (a scan started
    ///   from inside another scan's closure on the same scanner), or what `body` throws.
    func withScanLock<R>(_ body: (inout Value) throws -> R) throws -> R {
        let rc = pthread_mutex_lock(mutex)
        if rc == EDEADLK {
            throw SockDiagError.invalidQuery(
                "a scan was started from inside another scan's closure on the same Scanner; use a second Scanner")
        }
        precondition(rc == 0, "pthread_mutex_lock: \(rc)")
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
