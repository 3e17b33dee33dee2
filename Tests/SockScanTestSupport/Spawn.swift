import Foundation

/// Starts programs with `posix_spawn` instead of Foundation's `Process`.
///
/// `Process.run()` in swift-corelibs-foundation up to Swift 6.3.1 crashes now and then (SIGSEGV in a
/// `memcpy` inside `Process.run`): `findMaximumOpenFromProcSelfFD()` copies a whole 256-byte `d_name` out of
/// a `readdir` record, reading past glibc's buffer when the record sits at its end (fixed upstream in
/// swift-corelibs-foundation PR 5472). Seen here in about one full test run in six. Like `Process`, the
/// child gets no descriptor of the test process but its stdin, stdout and stderr
/// (`posix_spawn_file_actions_addclosefrom_np`), so sockets a test closes really close.
public struct SpawnedProcess: Sendable {
    public let pid: pid_t

    /// Starts `path` with `arguments`, stdin from /dev/null, stdout and stderr to the given descriptors.
    ///
    /// - Parameter closed: standard descriptors (0, 1, 2) the child starts without, as after `>&-` in a
    ///   shell; `stdout` or `stderr` is then ignored.
    /// - Throws: ``SystemCallError`` when `posix_spawn` fails.
    public init(path: String, arguments: [String], stdout: Int32, stderr: Int32, closed: Set<Int32> = []) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        for fd in closed.sorted() where (0...2).contains(fd) { posix_spawn_file_actions_addclose(&actions, fd) }
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        // The child starts with no signal blocked and default dispositions (a test may block or ignore some).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let rc = (argv + [nil]).withUnsafeBufferPointer { args in
            posix_spawn(&pid, path, &actions, &attributes, UnsafeMutablePointer(mutating: args.baseAddress!), environ)
        }
        guard rc == 0 else { throw SystemCallError("posix_spawn \(path)", errno: rc) }
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which the Glibc module does not export.
    private static let addCloseFrom:
        (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
            else { return nil }
            return unsafeBitCast(
                symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
        }()

    /// The exit status (128 + the signal when one ended it) once it has ended, `nil` while it runs.
    public func poll() -> (status: Int32, signaled: Bool)? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return nil }
        return Self.decode(status)
    }

    /// Waits for the end.
    public func wait() -> (status: Int32, signaled: Bool) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Self.decode(status)
    }

    /// Waits at most `timeout` seconds (bounded rounds too).
    public func wait(timeout: Double) -> (status: Int32, signaled: Bool)? {
        let deadline = Date().addingTimeInterval(timeout)
        var rounds = 0
        let maxRounds = Int(timeout * 500) + 1
        while Date() < deadline && rounds < maxRounds {
            if let done = poll() { return done }
            usleep(2_000)
            rounds += 1
        }
        return poll()
    }

    /// `waitpid` status: exited (`status >> 8`), or killed by a signal (`status & 0x7f`).
    static func decode(_ status: Int32) -> (status: Int32, signaled: Bool) {
        let signal = status & 0x7F
        return signal == 0 ? ((status >> 8) & 0xFF, false) : (128 + signal, true)
    }
}
