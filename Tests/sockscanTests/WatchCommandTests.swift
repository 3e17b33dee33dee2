import Foundation
import SockDiag
import SockHistory
import GRDB
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// `sockscan watch` as a user runs it, on private namespaces.
@Suite("watch", .serialized) struct WatchCommandTests {
    /// `watch` stops the same way.
    @Test func watchStopsWhenTheNamespaceIsGone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try NamespaceHolder(in: namespace)
        let watch = try Background(["watch", "--interval", "50ms", "--netns", "\(holder.pid)"])
        defer { _ = try? watch.stop(SIGKILL) }
        try waitUntil("a row", timeout: 20) { watch.stdout.split(separator: "\n").count >= 2 }
        holder.exit()
        try waitUntil("watch to stop", timeout: 20) { !watch.isRunning }
        #expect(try watch.stop() == 1)
        #expect(watch.stderr.contains("process \(holder.pid) has exited"), "\(watch.stderr)")
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

    @Test("--interval takes a bare number as seconds, as sar does")
    func bareInterval() throws {
        let result = try SockscanBinary.run(["watch", "--interval", "1", "--count", "1"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines.count == 3, "header, one row, Average: \(result.stdout)")
        let half = try SockscanBinary.run(["watch", "--interval", "0.2", "--count", "2"])
        #expect(half.status == 0, "\(half)")
        let help = try SockscanBinary.run(["watch", "--help"])
        #expect(help.stdout.contains("or seconds"), "\(help.stdout)")
    }
}
