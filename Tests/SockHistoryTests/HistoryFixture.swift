import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockScanTestSupport
import Testing

typealias Sockscan = SockscanBinary

/// `sockscan` running in the background (a recorder), output to files, every wait bounded.
final class Background {
    let process: BackgroundProcess

    init(_ arguments: [String]) throws {
        process = try BackgroundProcess(Sockscan.path, arguments)
    }

    var pid: Int32 { process.pid }
    var stderr: String { process.stderr }
    var stdout: String { process.stdout }
    /// Whether it still runs (reaps it when it has ended).
    var isRunning: Bool { process.isRunning }

    /// Sends `signal` (unless it has already ended) and waits (at most `timeout` s) for the exit.
    ///
    /// - Returns: the exit status, or 128 + the signal when a signal ended it.
    /// - Throws: when it had to be killed after `timeout`.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) throws -> Int32 {
        guard let status = process.stop(signal, grace: timeout) else {
            throw CommandError("sockscan did not stop within \(timeout) s of signal \(signal); stderr: \(stderr)")
        }
        return status
    }
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

/// A destination as a port scan reports it and the history keeps it, given as the history's columns: its blocked
/// share `utilization` sets the reusable TIME_WAIT count (`used` - `utilization` x `capacity`).
func storedDestination(
    localAddress: String, remoteAddress: String, remotePort: UInt16, used: Int, capacity: Int, established: UInt64,
    timeWait: UInt64, utilization: Double
) -> DestinationReport {
    var states = StateCounts()
    states[.established] = established
    states[.timeWait] = timeWait
    return DestinationReport(
        destination: Destination(
            localAddress: IPAddress(localAddress)!, remoteAddress: IPAddress(remoteAddress)!, remotePort: remotePort),
        used: used, capacity: capacity, states: states,
        reusableTimeWait: used - Int((utilization * Double(capacity)).rounded()))
}
