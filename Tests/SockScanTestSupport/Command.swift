import Foundation

/// What a finished child process left: exit status and its whole output.
public struct CommandResult: Sendable, CustomStringConvertible {
    /// The exit status, or 128 + the signal number when a signal ended it (as a shell reports it).
    public var status: Int32
    /// Whether a signal ended the process.
    public var signaled: Bool
    public var stdout: String
    public var stderr: String

    /// The lines of stdout, without the empty one after the last newline.
    public var lines: [Substring] { stdout.split(separator: "\n", omittingEmptySubsequences: true) }

    public var description: String {
        "status \(status)\(signaled ? " (signal)" : ""), stderr: \(stderr.isEmpty ? "(empty)" : stderr)"
    }
}

/// Why a command could not be run to the end.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs programs with `posix_spawn`, output to temporary files (no pipe can fill up and block the child),
/// every wait bounded.
///
/// Not Foundation's `Process`: on Linux its `run()` reads past the end of a `dirent` while it scans
/// `/proc/self/fd` (swift-corelibs-foundation PR 5472, not in the 6.3 toolchains) and crashes the test
/// process now and then, more often the more descriptors are open, as in suites holding a socket mix.
/// The child gets stdin from /dev/null, default signal handling, and none of this process's other
/// descriptors (so it never holds a copy of a test's sockets).
public enum Command {
    /// Finds an executable by name in `PATH` and the sbin directories (`ip` lives in `/usr/sbin`).
    public static func locate(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for directory in directories where access("\(directory)/\(name)", X_OK) == 0 {
            return "\(directory)/\(name)"
        }
        throw CommandError("\(name) not found in PATH or /usr/sbin, /sbin (install iproute2)")
    }

    /// Starts `executable` with `arguments` and returns its pid without waiting; stdout and stderr go to
    /// the given descriptors, or to /dev/null; the standard descriptors in `closed` are left closed.
    ///
    /// - Throws: ``CommandError`` when it cannot be found, ``SystemCallError`` when it cannot be started.
    public static func spawn(
        _ executable: String, _ arguments: [String], stdout: Int32? = nil, stderr: Int32? = nil,
        closed: Set<Int32> = []
    ) throws -> pid_t {
        let path = try locate(executable)
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        return try SpawnedProcess(
            path: path, arguments: arguments, stdout: stdout ?? null, stderr: stderr ?? null, closed: closed
        ).pid
    }

    /// Waits at most `timeout` seconds for `pid`; returns its raw wait status, or nil when it still runs.
    public static func wait(_ pid: pid_t, timeout: Double) throws -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        for _ in 0..<(Int(timeout * 500) + 1) {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { return status }
            if waited < 0 && errno != EINTR { throw SystemCallError("waitpid \(pid)") }
            if Date() >= deadline { break }
            usleep(2_000)
        }
        return nil
    }

    /// Ends `pid`: SIGTERM, then SIGKILL after 2 s, and reaps it.
    public static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        if (try? wait(pid, timeout: 2)) ?? nil != nil { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    /// Runs `executable` with `arguments`, stdin from /dev/null, and waits at most `timeout` seconds.
    ///
    /// - Parameter closed: standard descriptors (0, 1, 2) the child starts without (`>&-` in a shell).
    /// - Throws: ``CommandError`` when it cannot start or does not finish in time (it is then killed).
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 20, closed: Set<Int32> = [])
        throws -> CommandResult
    {
        let out = try TemporaryFile()
        let err = try TemporaryFile()
        let pid = try spawn(executable, arguments, stdout: out.fd, stderr: err.fd, closed: closed)
        guard let status = try wait(pid, timeout: timeout) else {
            stop(pid)
            throw CommandError("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        let signal = status & 0x7F
        return CommandResult(
            status: signal == 0 ? (status >> 8) & 0xFF : 128 + signal, signaled: signal != 0,
            stdout: (try? readText(out.path)) ?? "", stderr: (try? readText(err.path)) ?? "")
    }

    /// Runs a command that must succeed, returning its stdout.
    ///
    /// - Throws: ``CommandError`` naming the command and its stderr when it exits non-zero.
    @discardableResult
    public static func check(_ executable: String, _ arguments: [String], timeout: Double = 20) throws -> String {
        let result = try run(executable, arguments, timeout: timeout)
        guard result.status == 0 else {
            throw CommandError(
                "\(executable) \(arguments.joined(separator: " ")) failed with \(result.status): \(result.stderr)")
        }
        return result.stdout
    }
}

/// A temporary file, open for writing, removed when released.
final class TemporaryFile {
    let path: String
    let fd: Int32

    init() throws {
        var template = Array("/tmp/sockscan-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError("mkstemp") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

/// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34): the Glibc module does not import it, as it is
/// declared only under `_GNU_SOURCE`-style feature macros.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
func posix_spawn_file_actions_addclosefrom(
    _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32
) -> Int32
