import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// `sockscan record` as a service runs it, on private namespaces; its history read back by `sockscan report`
/// and as an independent reader.
@Suite("record", .serialized) struct RecordCommandTests {
    /// How long after a row's time its counts may have been read (a row is stamped before sockstat is read).
    static let margin = 0.3

    /// `sockscan record` at a 1 s interval in a private namespace while TIME_WAIT bursts are made at known
    /// moments, then `sockscan report` on what it wrote.
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
        // Three: the first may have been stamped before the burst ended (at most one sample is being written).
        try waitUntil("three samples after the first burst", timeout: 10) { Peek.sampleCount(db) >= afterA + 3 }
        let b0 = Clock.wall()
        try burst.burst(12)
        let b1 = Clock.wall()
        let afterB = Peek.sampleCount(db)

        // report reads while record writes (WAL).
        let during = try Sockscan.run(["report", "--db", db, "--format", "json"])
        #expect(during.status == 0, "\(during)")
        #expect(try jsonRows(during.stdout).count >= afterB)

        try waitUntil("three samples after the second burst", timeout: 10) { Peek.sampleCount(db) >= afterB + 3 }
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
        }
        // A tick missed under load (a busy machine, a slow fsync) shows as the next row's missed, never as a
        // shifted schedule.
        let ticks = try Peek.queue(db).read { try Row.fetchAll($0, sql: "SELECT tick, missed FROM sample ORDER BY id") }
        for (previous, row) in zip(ticks, ticks.dropFirst()) {
            #expect(row["tick"] as Int64 == previous["tick"] as Int64 + 1 + Int64(row["missed"] as Int), "\(ticks)")
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

    /// `record --netns PID` once the process has exited: it stops with exit 1 and the reason (the service
    /// manager restarts it, and the start names what is missing), the run marked stopped, and no sample taken
    /// after the namespace went is written.
    @Test func recordStopsWhenTheNamespaceIsGone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let listener = try namespace.loopbackListener(port: 7301)
        defer { close(listener) }
        let holder = try NamespaceHolder(in: namespace)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("gone.db")
        let recorder = try Background([
            "record", "--db", db, "--interval", "50ms", "--full-every", "50ms", "--netns", "\(holder.pid)",
        ])
        defer { _ = try? recorder.stop(SIGKILL) }
        try waitUntil("two samples", timeout: 20) { Peek.sampleCount(db) >= 2 }
        holder.exit()
        try waitUntil("the recorder to stop", timeout: 20) { !recorder.isRunning }
        #expect(try recorder.stop() == 1)
        let reason = "network namespace /proc/\(holder.pid)/ns/net is gone: process \(holder.pid) has exited"
        #expect(recorder.stderr.hasSuffix("sockscan: \(reason)\n"), "\(recorder.stderr)")
        // Every sample written is of the namespace, with its listener.
        let store = try HistoryStore.openForReading(path: db)
        let samples = try store.samples()
        #expect(samples.count >= 2)
        #expect(samples.allSatisfy { $0[.listen] == 1 }, "\(samples.map { $0[.listen] })")
        let runs = try store.runs()
        #expect(runs.count == 1 && runs[0].ended == "stopped", "\(runs)")
    }
}
