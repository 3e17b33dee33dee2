import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockScanTestSupport
import Testing

/// Schema version 1 kept a destination's blocked share (reusable TIME_WAIT left out) as `utilization` and no
/// reusable count: a version 1 file is read as it is, and migrated by a recorder, with the same numbers.
@Suite(.serialized) struct MigrationTests {
    /// A history with one run of three samples, each with a destination of 50 sockets of 100 ports, 20 of them
    /// reusable TIME_WAIT (30% blocked), turned back into what a version 1 recorder wrote.
    static func makeVersion1History() throws -> (Scratch, String) {
        let (scratch, path) = try ReportCLITests.makeHistory(runs: [knownSamples().prefix(3).map { $0 }]) { _ in
            storedDestination(
                localAddress: "10.0.0.1", remoteAddress: "2001:db8::1", remotePort: 443, used: 50, capacity: 100,
                established: 20, timeWait: 30, utilization: 0.3)
        }
        try DatabaseQueue(path: path).write { db in
            try db.execute(
                sql: ClosesHistoryTests.undoVersion3
                    + """
                    ALTER TABLE destination DROP COLUMN reusable_time_wait;
                    ALTER TABLE destination RENAME COLUMN effective_utilization TO utilization;
                    DELETE FROM grdb_migrations WHERE identifier = 'v2';
                    PRAGMA user_version = 1;
                    """)
        }
        return (scratch, path)
    }

    static func expectWorst(_ samples: [Sample]) {
        let worst = samples.first?.worstDestination
        #expect(worst?.used == 50 && worst?.capacity == 100)
        #expect(worst?.reusableTimeWait == 20, "\(String(describing: worst))")
        #expect(worst?.effectiveUtilization == 0.3)
        #expect(worst?.utilization == 0.5)
        #expect(worst?.states[.timeWait] == 30 && worst?.states[.established] == 20)
        #expect(worst?.destination.remoteAddress == IPAddress("2001:db8::1"))
    }

    @Test func aVersion1FileIsReadAsItIs() throws {
        let (scratch, path) = try Self.makeVersion1History()
        defer { scratch.remove() }
        let before = try #require(Peek.bytes(path))
        Self.expectWorst(try HistoryStore.openForReading(path: path).samples())
        let json = try Sockscan.run(["report", "--db", path, "--format", "json"])
        #expect(json.status == 0, "\(json)")
        #expect(
            json.lines.first?.contains(
                #""remote_address":"2001:db8::1","remote_port":443,"used":50,"capacity":100,"time_wait":30,"utilization":0.3000"#
            )
                == true, "\(json.stdout)")
        #expect(Peek.bytes(path) == before, "a reader changes nothing")
    }

    @Test func aRecorderMigratesAVersion1File() throws {
        let (scratch, path) = try Self.makeVersion1History()
        defer { scratch.remove() }
        let store = try HistoryStore.openForRecording(path: path)
        #expect(try store.scalar("PRAGMA user_version") == "\(HistoryStore.schemaVersion)")
        #expect(try store.scalar("SELECT group_concat(reusable_time_wait) FROM destination WHERE rank = 1") == "20")
        #expect(try store.scalar("SELECT min(effective_utilization) FROM destination WHERE rank = 1") == "0.3")
        Self.expectWorst(try store.samples())
    }
}
