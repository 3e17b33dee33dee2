import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockScanTestSupport
import Testing

/// `sockscan record` at a 1 s interval in a private namespace while TIME_WAIT bursts are made at known
/// moments, then `sockscan report` on what it wrote.
@Suite(.serialized) struct RecordLiveTests {
    /// How long after a row's time its counts may have been read (a row is stamped before sockstat is read).
    static let margin = 0.3

    @Test func timeWaitBurstsShowInTheirRows() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let burst = try TimeWaitBurst(in: namespace)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("live.db")

        let recorder = try Background([
            "record", "--db", db, "--interval", "1s", "--full-every", "2s", "--netns", namespace.name,
        ])
        try waitUntil("two samples", timeout: 8) { Peek.sampleCount(db) >= 2 }
        let a0 = Clock.wall()
        try burst.burst(5)
        let a1 = Clock.wall()
        let afterA = Peek.sampleCount(db)
        try waitUntil("two samples after the first burst", timeout: 6) { Peek.sampleCount(db) >= afterA + 2 }
        let b0 = Clock.wall()
        try burst.burst(12)
        let b1 = Clock.wall()
        let afterB = Peek.sampleCount(db)

        // report reads while record writes (WAL).
        let during = try Sockscan.run(["report", "--db", db, "--format", "json"])
        #expect(during.status == 0, "\(during)")
        #expect(try jsonRows(during.stdout).count >= afterB)

        try waitUntil("two samples after the second burst", timeout: 6) { Peek.sampleCount(db) >= afterB + 2 }
        #expect(try recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
        #expect(recorder.stderr.contains("stopped by SIGTERM"), "\(recorder.stderr)")

        let report = try Sockscan.run(["report", "--db", db, "--format", "json"])
        #expect(report.status == 0, "\(report)")
        let rows = try jsonRows(report.stdout)
        var seen: [Double: Int] = [:]
        for row in rows {
            let t = try #require(row.time)
            let tw = try #require(row.number("tcp-tw"))
            let expected: Double?
            if t + Self.margin < a0 {
                expected = 0
            } else if t > a1 && t + Self.margin < b0 {
                expected = 5
            } else if t > b1 {
                expected = 17
            } else {
                expected = nil  // taken while a burst was being made
            }
            if let expected {
                #expect(tw == expected, "row at \(row["time"]!): tcp-tw \(tw), expected \(expected)")
                #expect(row.state("time-wait") == expected, "the dump's time-wait count agrees with sockstat")
                seen[expected, default: 0] += 1
            } else {
                #expect(tw >= 0 && tw <= 17)
            }
            #expect(row.state("listen") == 1, "the burst's listener")
            #expect(row.number("missed") == 0)
        }
        #expect(seen[0, default: 0] >= 1, "rows before the bursts: \(seen)")
        #expect(seen[5, default: 0] >= 1, "rows between the bursts: \(seen)")
        #expect(seen[17, default: 0] >= 1, "rows after the bursts: \(seen)")

        // The port scans: 17 of the range's ports to 127.0.0.1:7300 (TIME_WAIT holds its port).
        let lastScan = try #require(rows.last { $0.number("port_utilization") != nil && $0.time! > b1 })
        let capacity = 60999 - 32768 + 1  // a new namespace's ip_local_port_range, nothing bound in it
        #expect(abs(lastScan.number("port_utilization")! - 17.0 / Double(capacity)) < 1e-4)

        // --every 2s: each row averages the samples of its 2 s on the clock.
        let every = try Sockscan.run(["report", "--db", db, "--every", "2s", "--format", "json"])
        #expect(every.status == 0, "\(every)")
        var groups: [Double: [Double]] = [:]
        for row in rows { groups[(row.time! / 2).rounded(.down) * 2, default: []].append(row.number("tcp-tw")!) }
        let aggregated = try jsonRows(every.stdout)
        #expect(aggregated.count == groups.count)
        for row in aggregated {
            let values = try #require(groups[row.time!], "no samples for the row at \(row["time"]!)")
            #expect(row.number("samples") == Double(values.count))
            #expect(abs(row.number("tcp-tw")! - values.reduce(0, +) / Double(values.count)) < 0.01)
        }

        // The table: the peak is the second burst's total; the sparkline ends at its top.
        let table = try Sockscan.run(["report", "--db", db, "--every", "2s"])
        #expect(table.status == 0, "\(table)")
        let peak = try #require(table.lines.first { $0.hasPrefix("Peak:") }).split(separator: " ")
        #expect(peak[6] == "17")
        let spark = try #require(table.lines.first { $0.hasPrefix("tcp-tw ") })
        #expect(spark.contains("█"), "\(spark)")
        #expect(spark.contains("0..17"), "\(spark)")

        // The database file is 0640.
        var st = stat()
        #expect(stat(db, &st) == 0 && st.st_mode & 0o777 == 0o640)
    }

    @Test func watchPrintsRowsAndRecordsWithDB() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let burst = try TimeWaitBurst(in: namespace, port: 7301)
        try burst.burst(3)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("watch.db")

        let result = try Sockscan.run([
            "watch", "--interval", "20ms", "--count", "22", "--db", db, "--netns", namespace.name,
        ])
        #expect(result.status == 0, "\(result)")
        let lines = result.lines
        let headers = lines.filter { $0.contains("totsck") }
        #expect(headers.count == 2, "a header every 20 rows")
        let header = try #require(headers.first).split(separator: " ")
        #expect(header.dropFirst().prefix(6) == ["totsck", "tcpsck", "udpsck", "rawsck", "ip-frag", "tcp-tw"])
        #expect(header.suffix(7) == ["estab", "synsent", "closewait", "timewait", "listen", "other", "closes/s"])
        let rows = lines.filter { $0.first?.isNumber == true && !$0.contains("totsck") }
        #expect(rows.count == 22)
        for row in rows {
            let fields = row.split(separator: " ")
            #expect(fields[6] == "3", "tcp-tw: \(row)")
            #expect(fields[14] == "3", "timewait: \(row)")
            #expect(fields[15] == "1", "listen: \(row)")
        }
        let average = try #require(lines.last { $0.hasPrefix("Average:") }).split(separator: " ")
        #expect(lines.last?.hasPrefix("Average:") == true)
        #expect(average[6] == "3.00" && average[14] == "3.00" && average[15] == "1.00", "\(average)")
        #expect(Peek.sampleCount(db) == 22)

        // On an absolute schedule, as far as a live run on a busy machine can show it: each row's tick follows
        // the previous one plus the ticks it reports missed (a delay is counted, never absorbed by shifting the
        // schedule). How close to its time each tick is taken is RecorderScheduleTests' job, on a scripted
        // clock; here the bound on a row's offset from its grid time is only against gross drift.
        let stored = try Peek.queue(db).read {
            try Row.fetchAll($0, sql: "SELECT time, tick, missed FROM sample ORDER BY id")
        }
        let start: Double = stored[0]["time"]
        #expect(stored[0]["tick"] as Int64 == 0)
        var missed = 0
        for (previous, row) in zip(stored, stored.dropFirst()) {
            let tick: Int64 = row["tick"]
            let time: Double = row["time"]
            missed += row["missed"] as Int
            #expect(tick == previous["tick"] as Int64 + 1 + Int64(row["missed"] as Int), "tick \(tick)")
            // Tick 0 may itself have been stamped late, by up to the same slack.
            let offset = time - start - Double(tick) * 0.02
            #expect(offset > -0.5 && offset < 0.5, "tick \(tick) at +\(time - start) s")
        }
        #expect(stored.last!["tick"] as Int64 == 21 + Int64(missed))

        // A filter narrows the state counts, not sockstat's totals.
        let filtered = try Sockscan.run([
            "watch", "--interval", "100ms", "--count", "1", "--netns", namespace.name, "state", "time-wait",
        ])
        #expect(filtered.status == 0, "\(filtered)")
        let fields = try #require(filtered.lines.dropFirst().first).split(separator: " ")
        #expect(fields[6] == "3" && fields[14] == "3" && fields[15] == "0", "\(filtered.stdout)")
    }
}
