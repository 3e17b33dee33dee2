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

/// Runs programs with Foundation's `Process`, output to temporary files (no pipe can fill up and block
/// the child), every wait bounded.
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try locate(executable))
        process.arguments = arguments
        let directory = FileManager.default.temporaryDirectory
        let stem = "sockscan-test-\(getpid())-\(UUID().uuidString)"
        let outURL = directory.appendingPathComponent(stem + ".out")
        let errURL = directory.appendingPathComponent(stem + ".err")
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        guard FileManager.default.createFile(atPath: outURL.path, contents: nil),
            FileManager.default.createFile(atPath: errURL.path, contents: nil)
        else { throw CommandError("cannot create output files in \(directory.path)") }
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var rounds = 0
        let maxRounds = Int(timeout * 500) + 1
        while process.isRunning && Date() < deadline && rounds < maxRounds {
            usleep(2_000)
            rounds += 1
        }
        if process.isRunning {
            process.terminate()
            let killDeadline = Date().addingTimeInterval(2)
            for _ in 0..<400 where process.isRunning && Date() < killDeadline { usleep(5_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw CommandError("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        process.waitUntilExit()
        let signaled = process.terminationReason == .uncaughtSignal
        return CommandResult(
            status: signaled ? 128 + process.terminationStatus : process.terminationStatus,
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
