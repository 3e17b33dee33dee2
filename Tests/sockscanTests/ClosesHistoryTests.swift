import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Closes in the history (schema version 3): written and read back exactly, reported per interval in the
/// table, JSON, CSV and chart, and a version 2 file migrated without losing a row.
@Suite(.serialized) struct ClosesHistoryTests {
    static let a = Destination(
        localAddress: IPAddress("10.0.0.1")!, remoteAddress: IPAddress("192.0.2.1")!, remotePort: 443)
    static let b = Destination(
        localAddress: IPAddress("10.0.0.1")!, remoteAddress: IPAddress("2001:db8::1")!, remotePort: 80)

    /// Twelve samples 10 s apart (``knownSamples()``): the first of the run without closes, then sample i
    /// closed 10 i connections over 10 s, 8 i of them to a and 2 i to b (the second sample's interval
    /// 12 s: a missed tick's worth longer).
    static func samplesWithCloses() -> [Sample] {
        knownSamples().enumerated().map { i, sample in
            var s = sample
            if i > 0 {
                s.closes = IntervalCloses(
                    closes: 10 * i, seconds: i == 1 ? 12 : 10, droppedEvents: i == 5 ? 1 : 0,
                    top: [.init(destination: a, closes: 8 * i), .init(destination: b, closes: 2 * i)])
            }
            return s
        }
    }

    static func makeHistory() throws -> (Scratch, String) {
        try HistoryFixture.makeHistory(runs: [samplesWithCloses()]) { utilization in
            storedDestination(
                localAddress: "10.0.0.1", remoteAddress: "192.0.2.1", remotePort: 443, used: 50, capacity: 1000,
                established: 20, timeWait: 30, utilization: utilization)
        }
    }

    @Test func closesAreStoredAndReadBackExactly() throws {
        let (scratch, path) = try Self.makeHistory()
        defer { scratch.remove() }
        let read = try HistoryStore.openForReading(path: path).samples()
        #expect(read.map(\.closes) == Self.samplesWithCloses().map(\.closes))
        #expect(
            try Peek.queue(path).read { try Int.fetchOne($0, sql: "SELECT count(*) FROM destination_closes") } == 22)
    }

    @Test func reportShowsClosesPerSecondPerInterval() throws {
        let (scratch, path) = try Self.makeHistory()
        defer { scratch.remove() }
        // Per sample: closes over the sample's interval; null for the first.
        let perSample = try jsonRows(try Sockscan.run(["report", "--db", path, "--format", "json"]).stdout)
        try #require(perSample.count == 12)
        #expect(perSample[0]["closes"] is NSNull && perSample[0]["closes_per_s"] is NSNull)
        #expect(perSample.dropFirst().map { $0.number("closes") } == (1..<12).map { Double(10 * $0) })
        #expect(perSample[1].number("closes_per_s") == 0.833, "10 closes over 12 s, three decimals")
        #expect(perSample[2].number("closes_per_s") == 2)
        #expect(perSample[5].number("close_events_dropped") == 1)
        let top = try #require(perSample[3]["top_closes"] as? [[String: Any]])
        #expect(top.map { $0["remote_address"] as? String } == ["192.0.2.1", "2001:db8::1"])
        #expect(top.map { $0.number("closes") } == [24, 6])
        #expect(top.map { $0.number("closes_per_s") } == [2.4, 0.6])

        // Per minute: closes summed, over the seconds they were counted in (10:00:00 holds samples 1-5,
        // 52 s, after the uncounted first; 10:01:00 samples 6-11, 60 s).
        let perMinute = try jsonRows(
            try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "json"]).stdout)
        try #require(perMinute.count == 2)
        #expect(perMinute.map { $0.number("closes") } == [150, 510])
        #expect(perMinute[0].number("closes_per_s").map { abs($0 - 150.0 / 52) < 0.001 } == true)
        #expect(perMinute[1].number("closes_per_s") == 8.5)
        let minuteTop = try #require(perMinute[1]["top_closes"] as? [[String: Any]])
        #expect(minuteTop.map { $0.number("closes") } == [408, 102])

        // CSV: the same two columns.
        let csv = try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "csv"]).lines
        let header = csv[0].split(separator: ",", omittingEmptySubsequences: false)
        let closes = try #require(header.firstIndex(of: "closes"))
        #expect(header[closes + 1] == "closes_per_s")
        #expect(
            csv[2].split(separator: ",", omittingEmptySubsequences: false)[closes...].prefix(2) == ["510", "8.500"])

        // The table: the closes/s column, its sparkline, average and peak, the busiest destinations.
        let table = try Sockscan.run(["report", "--db", path])
        #expect(table.status == 0, "\(table)")
        let lines = table.lines.map(String.init)
        #expect(lines[0].split(separator: " ").suffix(2) == ["closes/s", "%port"])
        #expect(lines[1].split(separator: " ").suffix(2).first == "-", "the first sample: not counted")
        #expect(lines[3].split(separator: " ").suffix(2).first == "2.00")
        let summary = try #require(lines.first { $0.hasPrefix("closes/s ") })
        // 660 closes over 112 s; the peak interval 11 x 10 / 10 s.
        #expect(summary.contains("  5.89 on average, peak 11.00; "), "\(summary)")
        #expect(summary.contains("1 close events dropped"), "\(summary)")
        let busiest = lines.filter { $0.hasPrefix("Busiest:") }
        #expect(busiest.count == 2)
        #expect(busiest.first?.hasSuffix("4.71 closes/s  10.0.0.1 -> 192.0.2.1:443") == true, "\(busiest)")
        #expect(busiest.last?.hasSuffix("1.18 closes/s  10.0.0.1 -> [2001:db8::1]:80") == true, "\(busiest)")

        // The chart: a closes/s panel with one point per counted row.
        let chart = scratch.file("closes.svg")
        let drawn = try Sockscan.run(["report", "--db", path, "--chart", chart, "--format", "csv"])
        #expect(drawn.status == 0, "\(drawn)")
        let collector = SVGCollector()
        let parser = XMLParser(data: try #require(FileManager.default.contents(atPath: chart)))
        parser.delegate = collector
        #expect(parser.parse())
        #expect(collector.groups.contains("axis-closes"))
        #expect(collector.polylines.filter { $0.group == "closes-per-second" }.map(\.points) == [11])
        #expect(collector.texts.contains("closes/s (below)"))
    }

    /// A history of ``ReportCLITests/makeHistory(runs:name:destination:)`` turned back into what a version 2
    /// recorder wrote: no closes columns, no destination_closes table, user_version 2.
    static func makeVersion2History() throws -> (Scratch, String) {
        let (scratch, path) = try HistoryFixture.makeHistory(runs: [Array(knownSamples().prefix(4))]) { u in
            storedDestination(
                localAddress: "10.0.0.1", remoteAddress: "2001:db8::1", remotePort: 443, used: 50, capacity: 100,
                established: 20, timeWait: 30, utilization: u)
        }
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: HistoryFixture.undoVersion3 + "PRAGMA user_version = 2;")
        }
        return (scratch, path)
    }

    /// Every row of each version 2 table, its version 2 columns, as text, in rowid order.
    static func dump(_ path: String, columns: [String: [String]]) throws -> [String: [String]] {
        try Peek.queue(path).read { db in
            var all: [String: [String]] = [:]
            for (table, names) in columns {
                all[table] = try Row.fetchAll(
                    db, sql: "SELECT \(names.joined(separator: ", ")) FROM \(table) ORDER BY rowid"
                ).map { "\($0)" }
            }
            return all
        }
    }

    @Test func aVersion2FileIsReadAsItIsAndMigratedWithoutLoss() throws {
        let (scratch, path) = try Self.makeVersion2History()
        defer { scratch.remove() }
        let columns = try Peek.queue(path).read { db in
            try Dictionary(
                uniqueKeysWithValues: ["run", "sample", "destination"].map { table in
                    (table, try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('\(table)')"))
                })
        }
        let before = try Self.dump(path, columns: columns)
        let bytes = try #require(Peek.bytes(path))
        #expect(before["sample"]?.count == 4 && before["destination"]?.isEmpty == false)

        // Read as it is: no closes, no column, nothing written.
        let json = try jsonRows(try Sockscan.run(["report", "--db", path, "--format", "json"]).stdout)
        #expect(json.count == 4 && json.allSatisfy { $0["closes_per_s"] is NSNull })
        let table = try Sockscan.run(["report", "--db", path])
        #expect(table.status == 0 && !table.stdout.contains("closes/s"), "\(table)")
        #expect(Peek.bytes(path) == bytes, "a reader changes nothing")

        // A recorder migrates it: every row as it was, the new columns NULL (not counted, not zero).
        let store = try HistoryStore.openForRecording(path: path)
        #expect(try store.scalar("PRAGMA user_version") == "3")
        #expect(try store.scalar("SELECT count(*) FROM sample WHERE closes IS NOT NULL") == "0")
        #expect(try store.scalar("SELECT count(*) FROM destination_closes") == "0")
        #expect(try Self.dump(path, columns: columns) == before, "every row of version 2 as it was")
        #expect(
            try HistoryStore.openForReading(path: path).samples().map(\.time) == knownSamples().prefix(4).map(\.time))

        // And it records closes from then on.
        try store.beginRun(
            .init(
                started: baseTime + 1000, pid: getpid(), host: "test", netns: nil, filter: nil, interval: .seconds(10),
                fullEvery: nil, version: "test"))
        var sample = Sample(time: baseTime + 1000)
        sample.closes = IntervalCloses(closes: 5, seconds: 10, top: [.init(destination: Self.b, closes: 5)])
        try store.insert(sample, tick: 1, ports: nil)
        try store.endRun(at: baseTime + 1010)
        #expect(try HistoryStore.openForReading(path: path).samples().last?.closes == sample.closes)
    }
}
