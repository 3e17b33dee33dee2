#if canImport(Glibc)
    import Glibc
#endif

// What the commands that run until stopped (record, watch, serve) share: the stop signals, and the clocks.

/// SIGTERM and SIGINT as a request to stop, received synchronously.
///
/// ``block()`` blocks them in the calling thread before any other thread is made, so that every thread
/// started later inherits the mask and the signals stay pending until ``wait(untilMonotonic:)`` takes one
/// with `sigtimedwait`: no handler, no race between checking a flag and going to sleep.
public enum StopSignals {
    public static let signals: [Int32] = [SIGTERM, SIGINT]

    private static func set() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        return set
    }

    /// Blocks the stop signals in this thread (and the threads it starts from now on).
    public static func block() {
        var mask = set()
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// Sleeps until the monotonic clock reaches `deadline` (nanoseconds), or a stop signal arrives.
    ///
    /// - Returns: the signal number, or `nil` when the deadline came.
    public static func wait(untilMonotonic deadline: Int64) -> Int32? {
        var mask = set()
        while true {
            let remaining = deadline - Clock.monotonic()
            var timeout = timespec(
                tv_sec: max(0, Int(remaining / 1_000_000_000)), tv_nsec: max(0, Int(remaining % 1_000_000_000)))
            if remaining <= 0 { timeout = timespec(tv_sec: 0, tv_nsec: 0) }
            let signal = sigtimedwait(&mask, nil, &timeout)
            if signal > 0 { return signal }
            if remaining <= 0 { return nil }
            // EAGAIN: the timeout passed (loop checks the clock again); EINTR: another signal's handler ran.
        }
    }

    /// Sleeps until a stop signal arrives (a server's main thread once everything runs).
    ///
    /// - Returns: the signal number.
    public static func wait() -> Int32 {
        var mask = set()
        var received: Int32 = 0
        while sigwait(&mask, &received) != 0 {}
        return received
    }
}

/// Clocks and CPU usage, from the kernel.
public enum Clock {
    /// `CLOCK_MONOTONIC` in nanoseconds: the schedule's clock (never jumps with the wall clock).
    public static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// `CLOCK_REALTIME` in seconds since 1970: what a sample is stamped with.
    public static func wall() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// User + system CPU time of the whole process (every thread), microseconds (`getrusage(RUSAGE_SELF)`).
    public static func processCPU() -> Int64 {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
            + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }
}
