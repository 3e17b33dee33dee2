import Foundation
import GRDB
import SockDiag
import SockHistory
import SockScanTestSupport
import Testing

typealias Sockscan = SockscanBinary

/// `sockscan` running in the background (a recorder), output to files, every wait bounded.
final class Background {
    let child: SpawnedProcess
    let outURL: URL
    let errURL: URL
    private var exit: (status: Int32, signaled: Bool)?

    init(_ arguments: [String]) throws {
        let stem = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sockscan-history-\(getpid())-\(UUID().uuidString)")
        outURL = stem.appendingPathExtension("out")
        errURL = stem.appendingPathExtension("err")
        let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(out)
            close(err)
        }
        child = try SpawnedProcess(path: Sockscan.path, arguments: arguments, stdout: out, stderr: err)
    }

    deinit {
        if isRunning {
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }

    var pid: Int32 { child.pid }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }

    /// Whether it still runs (reaps it when it has ended).
    var isRunning: Bool {
        if exit == nil { exit = child.poll() }
        return exit == nil
    }

    /// Sends `signal` (unless it has already ended) and waits (at most `timeout` s) for the exit.
    ///
    /// - Returns: the exit status, or 128 + the signal when a signal ended it.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) throws -> Int32 {
        if isRunning { kill(child.pid, signal) }
        if exit == nil { exit = child.wait(timeout: timeout) }
        guard let exit else {
            kill(child.pid, SIGKILL)
            self.exit = child.wait()
            throw CommandError("sockscan did not stop within \(timeout) s of signal \(signal); stderr: \(stderr)")
        }
        return exit.status
    }
}

/// Waits (bounded by time and rounds) until `condition` holds.
func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) throws {
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

/// A fresh directory under the temporary directory, removed by ``remove()``.
struct Scratch {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "sockscan-history-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Direct access to a history file, as an independent reader (GRDB, read-only).
enum Peek {
    static func queue(_ path: String, readonly: Bool = true) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = readonly
        config.busyMode = .timeout(5)
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// `SELECT count(*) FROM sample`, 0 while the file has no table yet.
    static func sampleCount(_ path: String) -> Int {
        guard FileManager.default.fileExists(atPath: path), let queue = try? queue(path) else { return 0 }
        return (try? queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sample") ?? 0 }) ?? 0
    }

    static func sampleIDs(_ path: String) throws -> [Int64] {
        try queue(path).read { try Int64.fetchAll($0, sql: "SELECT id FROM sample ORDER BY id") }
    }

    /// `PRAGMA integrity_check` on a read-write connection (which recovers the WAL a killed writer left).
    static func integrity(_ path: String) throws -> String {
        try queue(path, readonly: false).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// The bytes of a file (to show it was left untouched).
    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}

/// Report JSON rows, parsed.
func jsonRows(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

extension Dictionary where Key == String, Value == Any {
    func number(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
    func state(_ name: String) -> Double? { ((self["tcp_states"] as? [String: Any])?[name] as? NSNumber)?.doubleValue }
    /// `time`, parsed back to seconds since 1970.
    var time: Double? { (self["time"] as? String).flatMap { ReportTime.parse($0)?.timeIntervalSince1970 } }
}
