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

/// Runs programs (with `posix_spawn`, see ``SpawnedProcess``), output to temporary files (no pipe can fill
/// up and block the child), every wait bounded.
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

    /// Runs `executable` with `arguments`, stdin from /dev/null, and waits at most `timeout` seconds.
    ///
    /// - Throws: ``CommandError`` when it cannot start or does not finish in time (it is then killed).
    public static func run(_ executable: String, _ arguments: [String], timeout: Double = 20) throws
        -> CommandResult
    {
        let path = try locate(executable)
        let directory = FileManager.default.temporaryDirectory
        let stem = "sockscan-test-\(getpid())-\(UUID().uuidString)"
        let outURL = directory.appendingPathComponent(stem + ".out")
        let errURL = directory.appendingPathComponent(stem + ".err")
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
        }
        guard out >= 0, err >= 0 else { throw CommandError("cannot create output files in \(directory.path)") }
        // posix_spawn, not Foundation's Process: see SpawnedProcess.
        let child = try SpawnedProcess(path: path, arguments: arguments, stdout: out, stderr: err)
        guard let (status, signaled) = child.wait(timeout: timeout) else {
            kill(child.pid, SIGTERM)
            if child.wait(timeout: 2) == nil {
                kill(child.pid, SIGKILL)
                _ = child.wait()
            }
            throw CommandError("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        return CommandResult(
            status: status,
            signaled: signaled,
            stdout: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self))
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
