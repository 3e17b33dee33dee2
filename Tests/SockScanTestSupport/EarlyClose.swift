import Foundation

/// Runs a program the way `program | head -1` does: stdout is a pipe whose reader takes the first line
/// and closes it. SIGPIPE is reset to its default in the child (as in a login shell), whatever this
/// test process does with it; the child inherits no other descriptor of this process.
public enum EarlyClose {
    /// What the reader saw and how the program ended.
    public struct Outcome: Sendable {
        /// The first line of stdout, without the newline.
        public var firstLine: String
        /// Exit status (128 + signal when a signal ended it) and stderr; stdout is not kept.
        public var result: CommandResult
    }

    /// Starts `executable`, reads stdout up to the first newline in small reads, closes the pipe and
    /// waits (at most `timeout` seconds) for the program to end.
    ///
    /// - Throws: ``SystemCallError`` when the program cannot be started, ``CommandError`` on a timeout
    ///   (the program is killed).
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 20) throws -> Outcome {
        var pipeFDs: [Int32] = [-1, -1]
        // pipe2 and mkostemp need _GNU_SOURCE, which Swift's Glibc does not set: close-on-exec by fcntl.
        guard pipe(&pipeFDs) == 0 else { throw SystemCallError("pipe") }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var readEnd = pipeFDs[0]
        let writeEnd = pipeFDs[1]
        defer { if readEnd >= 0 { close(readEnd) } }

        var errPath = Array("/tmp/sockscan-test-stderr-XXXXXX".utf8CString)
        let errFD = errPath.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard errFD >= 0 else {
            close(writeEnd)
            throw SystemCallError("mkstemp")
        }
        _ = fcntl(errFD, F_SETFD, FD_CLOEXEC)
        let errFile = String(cString: errPath)
        defer {
            close(errFD)
            unlink(errFile)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        posix_spawn_file_actions_addclosefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let path = try Command.locate(executable)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        close(writeEnd)
        guard rc == 0 else { throw SystemCallError("posix_spawn \(path)", errno: rc) }

        let deadline = Date().addingTimeInterval(timeout)
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64)
        var rounds = 0
        reading: while Date() < deadline && rounds < 100_000 {
            rounds += 1
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR { break }
            if ready <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for byte in chunk[0..<n] {
                if byte == UInt8(ascii: "\n") { break reading }
                line.append(byte)
            }
        }
        close(readEnd)
        readEnd = -1

        var status: Int32 = 0
        var finished = false
        for _ in 0..<(Int(timeout * 500) + 1) where Date() < deadline {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid {
                finished = true
                break
            }
            if waited < 0 && errno != EINTR { throw SystemCallError("waitpid") }
            usleep(2_000)
        }
        if !finished {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            throw CommandError("\(executable) \(arguments.joined(separator: " ")) did not end in \(timeout) s")
        }
        let signal = status & 0x7F
        let stderr = (try? readText(errFile)) ?? ""
        return Outcome(
            firstLine: String(decoding: line, as: UTF8.self),
            result: CommandResult(
                status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, signaled: signal != 0, stdout: "",
                stderr: stderr))
    }
}
