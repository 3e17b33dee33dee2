import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockScanTestSupport
import Testing

/// Direct access to a history file, as an independent reader (GRDB, read-only).
public enum Peek {
    public static func queue(_ path: String, readonly: Bool = true) throws -> DatabaseQueue {
        var config = Configuration()
        config.readonly = readonly
        config.busyMode = .timeout(5)
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// `SELECT count(*) FROM sample`, 0 while the file has no table yet.
    public static func sampleCount(_ path: String) -> Int {
        guard FileManager.default.fileExists(atPath: path), let queue = try? queue(path) else { return 0 }
        return (try? queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sample") ?? 0 }) ?? 0
    }

    /// The ids of the samples, in order.
    public static func sampleIDs(_ path: String) throws -> [Int64] {
        try queue(path).read { try Int64.fetchAll($0, sql: "SELECT id FROM sample ORDER BY id") }
    }

    /// `PRAGMA integrity_check` on a read-write connection (which recovers the WAL a killed writer left).
    public static func integrity(_ path: String) throws -> String {
        try queue(path, readonly: false).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// The bytes of a file (to show it was left untouched).
    public static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}

/// Report JSON rows, parsed.
public func jsonRows(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map {
        try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
}

extension Dictionary where Key == String, Value == Any {
    /// A number field.
    public func number(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
    /// A count of `tcp_states`.
    public func state(_ name: String) -> Double? {
        ((self["tcp_states"] as? [String: Any])?[name] as? NSNumber)?.doubleValue
    }
    /// `time`, parsed back to seconds since 1970.
    public var time: Double? { (self["time"] as? String).flatMap { ReportTime.parse($0)?.timeIntervalSince1970 } }
}

/// A destination as a port scan reports it and the history keeps it, given as the history's columns: its blocked
/// share `utilization` sets the reusable TIME_WAIT count (`used` - `utilization` x `capacity`).
public func storedDestination(
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

/// 2026-05-01T10:00:00Z.
public let baseTime = 1_777_629_600.0

/// Twelve samples 10 s apart from `baseTime`: tcp-tw = i, established = 100 + 2i, udpsck = 7, a port scan
/// every sixth sample at 10% then 20%.
public func knownSamples(start: Double = baseTime) -> [Sample] {
    (0..<12).map { i in
        var s = Sample(time: start + Double(i) * 10)
        s[.tcpTW] = Double(i)
        s[.udpsck] = 7
        s[.established] = UInt64(100 + 2 * i)
        s[.timeWait] = UInt64(i)
        if i % 6 == 0 { s.portUtilization = 0.1 * Double(i / 6 + 1) }
        s.missed = i == 7 ? 2 : 0
        return s
    }
}

/// Histories written through the store, as a recorder writes them, in a scratch directory of their own.
public enum HistoryFixture {
    /// A history holding ``knownSamples()`` (and its scratch directory).
    public static func makeHistory() throws -> (Scratch, String) {
        let scratch = try Scratch()
        let path = scratch.file("known.db")
        let store = try HistoryStore.openForRecording(path: path)
        try store.beginRun(
            .init(
                started: baseTime, pid: getpid(), host: "test", netns: nil, filter: nil, interval: .seconds(10),
                fullEvery: .seconds(60), version: "test"))
        for (i, sample) in knownSamples().enumerated() {
            let ports = sample.portUtilization.map {
                PortSnapshot(
                    worstUtilization: $0, capacity: 100, destinationCount: 1, udpPorts: 0,
                    top: [
                        storedDestination(
                            localAddress: "127.0.0.1", remoteAddress: "127.0.0.2", remotePort: 8080,
                            used: Int($0 * 100), capacity: 100, established: 1, timeWait: UInt64($0 * 100) - 1,
                            utilization: $0)
                    ])
            }
            try store.insert(sample, tick: Int64(i), ports: ports)
        }
        try store.endRun(at: baseTime + 120)
        return (scratch, path)
    }

    /// A history of `runs` (each as recorded: begun at its first sample, stopped after its last), each full
    /// scan with `destination(utilization)` first.
    public static func makeHistory(
        runs: [[Sample]], name: String = "history.db", destination: (Double) -> DestinationReport
    ) throws -> (Scratch, String) {
        let scratch = try Scratch()
        let path = scratch.file(name)
        let store = try HistoryStore.openForRecording(path: path)
        for samples in runs {
            try store.beginRun(
                .init(
                    started: samples[0].time, pid: getpid(), host: "test", netns: nil, filter: nil,
                    interval: .seconds(10), fullEvery: .seconds(40), version: "test"))
            for (i, sample) in samples.enumerated() {
                let ports = sample.portUtilization.map {
                    PortSnapshot(
                        worstUtilization: $0, capacity: 1000, destinationCount: 2, udpPorts: 0,
                        top: [
                            destination($0),
                            storedDestination(
                                localAddress: "10.0.0.9", remoteAddress: "192.0.2.9", remotePort: 1, used: 1,
                                capacity: 1000, established: 1, timeWait: 0, utilization: 0.001),
                        ])
                }
                try store.insert(sample, tick: Int64(i), ports: ports)
            }
            try store.endRun(at: samples.last!.time + 10)
        }
        return (scratch, path)
    }

    /// Scans at 10:00:00 (30%, to 192.0.2.1:8080), 10:00:40 (50%, to [2001:db8::1]:443) and 10:01:20 (20%, to
    /// 192.0.2.3:7070): the worst is not the latest.
    public static func makeScannedHistory() throws -> (Scratch, String) {
        let samples = (0..<12).map { i in
            var s = Sample(time: baseTime + Double(i) * 10)
            s.portUtilization = [0: 0.3, 4: 0.5, 8: 0.2][i]
            return s
        }
        return try makeHistory(runs: [samples]) { utilization in
            let (local, remote, port): (String, String, UInt16) =
                utilization == 0.5
                ? ("10.0.0.1", "2001:db8::1", 443)
                : utilization == 0.3 ? ("10.0.0.1", "192.0.2.1", 8080) : ("10.0.0.2", "192.0.2.3", 7070)
            return storedDestination(
                localAddress: local, remoteAddress: remote, remotePort: port, used: Int(utilization * 1000),
                capacity: 1000, established: 10, timeWait: UInt64(utilization * 1000) - 10, utilization: utilization)
        }
    }

    /// Two runs 24 h apart: 6 samples 10 s apart from 10:00:00, then 6 from 10:00:50 the next day; a port
    /// scan every third sample.
    public static func makeRestartedHistory() throws -> (Scratch, String) {
        let run = { (start: Double) in
            (0..<6).map { i in
                var s = Sample(time: start + Double(i) * 10)
                s[.tcpTW] = Double(10 + i)
                s[.established] = 5
                if i % 3 == 0 { s.portUtilization = 0.1 }
                return s
            }
        }
        return try makeHistory(runs: [run(baseTime), run(baseTime + 86_400 + 50)]) { utilization in
            storedDestination(
                localAddress: "10.0.0.1", remoteAddress: "192.0.2.1", remotePort: 80, used: 100, capacity: 1000,
                established: 100, timeWait: 0, utilization: utilization)
        }
    }

    /// SQL that takes what the v3 migration added out of a history.
    public static let undoVersion3 = """
        ALTER TABLE sample DROP COLUMN closes;
        ALTER TABLE sample DROP COLUMN close_seconds;
        ALTER TABLE sample DROP COLUMN close_events_dropped;
        DROP TABLE destination_closes;
        DELETE FROM grdb_migrations WHERE identifier = 'v3';

        """

    /// A history with one run of three samples, each with a destination of 50 sockets of 100 ports, 20 of them
    /// reusable TIME_WAIT (30% blocked), turned back into what a version 1 recorder wrote.
    public static func makeVersion1History() throws -> (Scratch, String) {
        let (scratch, path) = try makeHistory(runs: [knownSamples().prefix(3).map { $0 }]) { _ in
            storedDestination(
                localAddress: "10.0.0.1", remoteAddress: "2001:db8::1", remotePort: 443, used: 50, capacity: 100,
                established: 20, timeWait: 30, utilization: 0.3)
        }
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: undoVersion3
                    + """
                    ALTER TABLE destination DROP COLUMN reusable_time_wait;
                    ALTER TABLE destination RENAME COLUMN effective_utilization TO utilization;
                    DELETE FROM grdb_migrations WHERE identifier = 'v2';
                    PRAGMA user_version = 1;
                    """)
        }
        return (scratch, path)
    }
}
