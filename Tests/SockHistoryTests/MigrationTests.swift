import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// Schema version 1 kept a destination's blocked share (reusable TIME_WAIT left out) as `utilization` and no
/// reusable count: a version 1 file is read as it is, and migrated by a recorder, with the same numbers.
@Suite(.serialized) struct MigrationTests {
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
        let (scratch, path) = try HistoryFixture.makeVersion1History()
        defer { scratch.remove() }
        let before = try #require(Peek.bytes(path))
        Self.expectWorst(try HistoryStore.openForReading(path: path).samples())
        #expect(Peek.bytes(path) == before, "a reader changes nothing")
    }

    @Test func aRecorderMigratesAVersion1File() throws {
        let (scratch, path) = try HistoryFixture.makeVersion1History()
        defer { scratch.remove() }
        let store = try HistoryStore.openForRecording(path: path)
        #expect(try store.scalar("PRAGMA user_version") == "\(HistoryStore.schemaVersion)")
        #expect(try store.scalar("SELECT group_concat(reusable_time_wait) FROM destination WHERE rank = 1") == "20")
        #expect(try store.scalar("SELECT min(effective_utilization) FROM destination WHERE rank = 1") == "0.3")
        Self.expectWorst(try store.samples())
    }
}
