import Foundation

/// A program left running in the background (a server), output to temporary files, always ended:
/// ``stop(_:grace:)`` sends a signal and waits, then SIGKILL; `deinit` kills what is still running.
public final class BackgroundProcess: @unchecked Sendable {
    public let child: SpawnedProcess
    public let name: String
    private let outURL: URL
    private let errURL: URL
    private var exit: (status: Int32, signaled: Bool)?

    /// Starts `executable arguments…` (looked up like ``Command/locate(_:)``), stdout and stderr to files,
    /// without the standard descriptors in `closed` (`>&-` in a shell).
    public init(_ executable: String, _ arguments: [String], closed: Set<Int32> = []) throws {
        name = ([executable] + arguments).joined(separator: " ")
        let stem = "sockscan-bg-\(getpid())-\(UUID().uuidString)"
        outURL = FileManager.default.temporaryDirectory.appendingPathComponent(stem + ".out")
        errURL = FileManager.default.temporaryDirectory.appendingPathComponent(stem + ".err")
        let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(out)
            close(err)
        }
        // posix_spawn, not Foundation's Process, whose run() crashes now and then (see Command).
        child = try SpawnedProcess(
            path: try Command.locate(executable), arguments: arguments, stdout: out, stderr: err, closed: closed)
    }

    deinit {
        if isRunning {
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }

    /// The process id.
    public var pid: pid_t { child.pid }
    public var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Whether it still runs (reaps it when it has ended).
    public var isRunning: Bool {
        if exit == nil { exit = child.poll() }
        return exit == nil
    }

    /// Waits (at most `timeout` s) until stderr has a line containing `marker`, and returns the line.
    public func waitForLine(containing marker: String, timeout: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        for _ in 0..<Int(timeout * 100) + 1 {
            if let line = stderr.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            if !isRunning || Date() > deadline { break }
            usleep(10_000)
        }
        throw CommandError("\(name): no '\(marker)' on stderr (running: \(isRunning)): \(stderr)")
    }

    /// Sends `signal`, waits at most `grace` seconds for the exit, then kills.
    /// - Returns: the exit status (128 + the signal when one ended it), nil when it had to be killed.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM, grace: Double = 5) -> Int32? {
        if isRunning { kill(child.pid, signal) }
        if exit == nil { exit = child.wait(timeout: grace) }
        guard let exit else {
            kill(child.pid, SIGKILL)
            self.exit = child.wait()
            return nil
        }
        return exit.status
    }
}

/// Waits (bounded by time and rounds) until `condition` holds.
///
/// - Throws: ``CommandError`` naming `what` after `timeout` seconds, or what `condition` throws.
public func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    var rounds = 0
    while Date() < deadline && rounds < Int(timeout * 100) {
        if try condition() { return }
        usleep(10_000)
        rounds += 1
    }
    if try condition() { return }
    throw CommandError("timed out after \(timeout) s waiting for \(what)")
}
