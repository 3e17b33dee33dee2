import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Threads of our own for work that blocks (a dump in recvmsg, a namespace's setns, a wait for events):
/// never a thread of the Swift Concurrency pool.
package enum DedicatedThread {
    /// A thread started by ``startJoinable(_:)``.
    package struct Joinable: @unchecked Sendable {
        fileprivate let thread: pthread_t
        /// Waits for the thread to end (once).
        package func join() { pthread_join(thread, nil) }
    }

    /// Runs `work` on a new thread that ``Joinable/join()`` waits for.
    ///
    /// - Throws: ``SockDiagError/unsupported(_:)`` when no thread can be started.
    package static func startJoinable(_ work: @escaping @Sendable () -> Void) throws(SockDiagError) -> Joinable {
        let (rc, thread) = spawn(work, detached: false)
        if rc != 0 { throw SockDiagError.unsupported("cannot start a thread: \(Errno(rawValue: rc))") }
        return Joinable(thread: thread)
    }

    /// Runs `work` on a new detached thread.
    ///
    /// - Throws: ``SockDiagError/unsupported(_:)`` when no thread can be started.
    static func start(_ work: @escaping @Sendable () -> Void) throws {
        let (rc, _) = spawn(work, detached: true)
        if rc != 0 {
            throw SockDiagError.unsupported("cannot start a thread for the scan: \(Errno(rawValue: rc))")
        }
    }

    /// Runs `work` on a new thread and waits for it to end.
    ///
    /// - Returns: 0, or the error number of `pthread_create` (then `work` did not run).
    static func join(_ work: @escaping @Sendable () -> Void) -> Int32 {
        let (rc, thread) = spawn(work, detached: false)
        if rc == 0 { pthread_join(thread, nil) }
        return rc
    }

    /// Starts a thread running `work`: the error number of `pthread_create` (0) and the thread.
    private static func spawn(_ work: @escaping @Sendable () -> Void, detached: Bool) -> (Int32, pthread_t) {
        final class Box {
            let work: @Sendable () -> Void
            init(_ work: @escaping @Sendable () -> Void) { self.work = work }
        }
        let context = Unmanaged.passRetained(Box(work)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        defer { pthread_attr_destroy(&attributes) }
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().work()
                return nil
            }, context)
        if rc != 0 { Unmanaged<Box>.fromOpaque(context).release() }
        return (rc, thread)
    }

    /// Runs `work` on a new thread and returns its result to the awaiting task.
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do {
                try start { continuation.resume(with: Result { try work() }) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
