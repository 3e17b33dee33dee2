import Foundation
import SockDiag
import SockFormat
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// Rows written through the store, read back by `sockscan report` as a user runs it.
@Suite("report", .serialized) struct ReportCommandTests {
    @Test func theWorstDestinationIsTheWorstScanInTheRange() throws {
        let (scratch, path) = try HistoryFixture.makeScannedHistory()
        defer { scratch.remove() }
        let clock = { (offset: Double) in HistoryFormatter().clock(baseTime + offset) }
        func footer(_ arguments: [String]) throws -> String? {
            let result = try Sockscan.run(["report", "--db", path] + arguments)
            #expect(result.status == 0, "\(result)")
            return result.lines.first { $0.hasPrefix("Worst destination") }.map(String.init)
        }
        // The whole history: the 50% scan, not the latest (20%).
        #expect(
            try footer([])
                == "Worst destination at \(clock(40)): 10.0.0.1 -> [2001:db8::1]:443 uses 500 of 1000 ports "
                + "(490 in TIME_WAIT), 50.0%")
        // From 10:01: only the last scan is in the range.
        #expect(
            try footer(["--from", "2026-05-01T10:01:00Z"])?.contains("\(clock(80)): 10.0.0.2 -> 192.0.2.3:7070") == true
        )
        // No scan in the range: no destination from outside it.
        #expect(try footer(["--from", "2026-05-01T10:00:50Z", "--to", "2026-05-01T10:01:10Z"]) == nil)

        // JSON: each row names the destination of its worst scan.
        let perMinute = try jsonRows(
            try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "json"]).stdout)
        try #require(perMinute.count == 2)
        let worst = perMinute.map { $0["worst_destination"] as? [String: Any] }
        #expect(worst[0]?["local_address"] as? String == "10.0.0.1")
        #expect(worst[0]?["remote_address"] as? String == "2001:db8::1")
        #expect(worst.map { $0?.number("remote_port") } == [443, 7070])
        #expect(worst.map { $0?.number("used") } == [500, 200])
        #expect(worst.map { $0?.number("capacity") } == [1000, 1000])
        #expect(worst[0]?["time"] as? String == "2026-05-01T10:00:40.000Z")
        let perSample = try jsonRows(try Sockscan.run(["report", "--db", path, "--format", "json"]).stdout)
        #expect(perSample.map { $0["worst_destination"] is [String: Any] } == (0..<12).map { $0 % 4 == 0 })
        #expect(perSample[1]["worst_destination"] is NSNull)

        // CSV: the same, as columns.
        let csv = try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "csv"]).lines
        #expect(
            csv[0].hasSuffix(",worst_local_address,worst_remote_address,worst_remote_port,worst_used,worst_capacity"))
        #expect(csv[1].hasSuffix(",10.0.0.1,2001:db8::1,443,500,1000"), "\(csv[1])")
        #expect(csv[2].hasSuffix(",10.0.0.2,192.0.2.3,7070,200,1000"), "\(csv[2])")
        let perSampleCSV = try Sockscan.run(["report", "--db", path, "--format", "csv"]).lines
        #expect(perSampleCSV[2].hasSuffix(",,,,,"), "\(perSampleCSV[2])")
    }

    @Test func aRestartIsMarkedAndAGapIsNotFilled() throws {
        let (scratch, path) = try HistoryFixture.makeRestartedHistory()
        defer { scratch.remove() }
        var formatter = HistoryFormatter()
        formatter.showDate = true  // two days
        let restartedAt = formatter.clock(baseTime + 86_400 + 50)
        let restart = "RESTART  (no samples since \(formatter.clock(baseTime + 50)))"

        let table = try Sockscan.run(["report", "--db", path])
        #expect(table.status == 0, "\(table)")
        let lines = table.lines.map(String.init)
        let marked = lines.filter { $0.contains("RESTART") }
        #expect(marked.count == 1 && marked[0].hasPrefix(restartedAt) && marked[0].hasSuffix(restart), "\(marked)")
        let at = try #require(lines.firstIndex { $0.contains("RESTART") })
        #expect(lines[at - 1].hasPrefix(formatter.clock(baseTime + 50)))
        #expect(lines[at + 1].hasPrefix(formatter.clock(baseTime + 86_400 + 50)))
        #expect(
            lines.filter { $0.first?.isNumber == true && !$0.contains("totsck") && !$0.contains("RESTART") }.count == 12
        )

        // Per minute: only the minutes with samples, the restart before the row holding the new run's first.
        let perMinute = try Sockscan.run(["report", "--db", path, "--every", "1m"])
        let rows = perMinute.lines.filter { $0.first?.isNumber == true && !$0.contains("totsck") }
        #expect(rows.count == 4, "\(perMinute.stdout)")
        #expect(
            rows[1].contains("RESTART") && rows[2].hasPrefix(formatter.clock(baseTime + 86_400)), "\(perMinute.stdout)")
        let json = try jsonRows(try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "json"]).stdout)
        #expect(json.map { $0.number("samples") } == [6, 1, 5])
    }

    @Test func jsonEveryMinute() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let result = try Sockscan.run(["report", "--db", path, "--every", "1m", "--format", "json"])
        #expect(result.status == 0, "\(result)")
        let rows = try jsonRows(result.stdout)
        try #require(rows.count == 2)
        #expect(rows.map { $0["time"] as? String } == ["2026-05-01T10:00:00.000Z", "2026-05-01T10:01:00.000Z"])
        #expect(rows.map { $0.number("tcp-tw") } == [2.5, 8.5])
        #expect(rows.map { $0.state("established") } == [105, 117])
        #expect(rows.map { $0.state("time-wait") } == [2.5, 8.5])
        #expect(rows.map { $0.number("udpsck") } == [7, 7])
        #expect(rows.map { $0.number("port_utilization") } == [0.1, 0.2])
        #expect(rows.map { $0.number("samples") } == [6, 6])
        for key in [
            "totsck", "tcpsck", "udpsck", "rawsck", "ip-frag", "tcp-tw", "tcp6sck", "udp6sck", "raw6sck", "ip6-frag",
        ] {
            #expect(rows[0][key] != nil, "no \(key)")
        }
    }

    @Test func fromToSelectsAndEveryAggregates() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        // Samples 3…8 (10:00:30 inclusive to 10:01:30 exclusive).
        let result = try Sockscan.run([
            "report", "--db", path, "--from", "2026-05-01T10:00:30Z", "--to", "2026-05-01T12:01:30+02:00",
            "--every", "1m", "--format", "csv",
        ])
        #expect(result.status == 0, "\(result)")
        let lines = result.lines
        try #require(lines.count == 3, "\(result.stdout)")
        #expect(lines[0].hasPrefix("time,totsck,tcpsck,udpsck,rawsck,ip-frag,tcp-tw,"))
        let tw = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[6] }
        #expect(tw == ["4", "7"])  // (3+4+5)/3, (6+7+8)/3
    }

    @Test func tableHasAverageAndPeakLinesAndASparkline() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let result = try Sockscan.run(["report", "--db", path])
        #expect(result.status == 0, "\(result)")
        let lines = result.lines
        let header = try #require(lines.first).split(separator: " ")
        #expect(Array(header.dropFirst().prefix(6)) == ["totsck", "tcpsck", "udpsck", "rawsck", "ip-frag", "tcp-tw"])
        #expect(header.suffix(7) == ["estab", "synsent", "closewait", "timewait", "listen", "other", "%port"])
        let average = try #require(lines.first { $0.hasPrefix("Average:") }).split(separator: " ")
        let peak = try #require(lines.first { $0.hasPrefix("Peak:") }).split(separator: " ")
        #expect(average[6] == "5.50")  // tcp-tw
        #expect(average[11] == "111.00")  // estab
        // As sar: every count of the Average line with two decimals, none as a whole number.
        for field in average.dropFirst().dropLast() {
            #expect(field.split(separator: ".").last?.count == 2, "\(field) in \(average)")
        }
        #expect(peak[6] == "11")
        #expect(peak[11] == "122")
        #expect(peak.last == "20.0%")
        #expect(lines.filter { $0.first?.isNumber == true && !$0.contains("totsck") }.count == 12)
        let spark = try #require(lines.first { $0.hasPrefix("tcp-tw ") })
        #expect(spark.contains("▁") && spark.contains("█"))
        #expect(spark.contains("2 ticks missed"))
        #expect(result.stdout.contains("127.0.0.1 -> 127.0.0.2:8080 uses 20 of 100 ports (19 in TIME_WAIT), 20.0%"))
    }

    @Test(
        arguments: [
            (["report", "--db", "x.db", "--every", "10x"], "--every"),
            (["report", "--db", "x.db", "--from", "25:00"], "--from"),
            (["report", "--db", "x.db", "--to", "yesterday"], "--to"),
            (["report", "--db", "x.db", "--from", "12:00", "--to", "11:00"], "--from (12:00) is after --to (11:00)"),
            (["report", "--db", "x.db", "--format", "xml"], "--format"),
            (["record", "--db", "x.db", "--interval", "0s"], "--interval"),
            (["record", "--db", "x.db", "--interval", "10s", "--full-every", "1s"], "--full-every"),
            (["record", "--db", "x.db", "--retention", "14 days"], "--retention"),
            (["watch", "--interval", "fast"], "--interval"),
            (["watch", "--count", "0"], "--count"),
        ] as [([String], String)])
    func badInputIsAUsageError(arguments: [String], mention: String) throws {
        let result = try Sockscan.run(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.stderr.contains(mention), "\(result.stderr)")
    }

    @Test func aChartNeedsSamplesAndSVG() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let chart = scratch.file("empty.svg")
        let empty = try Sockscan.run(["report", "--db", path, "--from", "2026-05-02T00:00Z", "--chart", chart])
        #expect(empty.status == 1, "\(empty)")
        #expect(
            empty.stderr
                == "sockscan: cannot write chart \(chart): no samples in \(path) in that time range; no chart written\n"
        )
        #expect(!FileManager.default.fileExists(atPath: chart))

        let png = try Sockscan.run(["report", "--db", path, "--chart", scratch.file("x.png")])
        #expect(png.status == 64, "\(png)")
        #expect(png.stderr.contains("only .svg charts"), "\(png.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("x.png")))
    }

    @Test func anEmptyCSVReportHasItsHeader() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let result = try Sockscan.run(["report", "--db", path, "--from", "2026-05-02T00:00Z", "--format", "csv"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines.count == 1 && result.lines[0].hasPrefix("time,totsck,tcpsck,"), "\(result.stdout)")
        #expect(result.stderr.contains("no samples"), "\(result.stderr)")
    }

    @Test func chartWriteErrorsAreOneClearLine() throws {
        let (scratch, path) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let directory = scratch.file("charts.svg")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let cases = [
            (directory, "Is a directory"), ("/nonexistent/x.svg", "No such file or directory"),
        ]
        for (chart, reason) in cases {
            let result = try Sockscan.run(["report", "--db", path, "--chart", chart])
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr == "sockscan: cannot write chart \(chart): \(reason)\n", "\(result.stderr)")
        }
        // Written whole, by a rename over the old file; no temporary file is left, after a failure either.
        let chart = scratch.file("tw.svg")
        try "old".write(toFile: chart, atomically: false, encoding: .utf8)
        let result = try Sockscan.run(["report", "--db", path, "--chart", chart, "--format", "csv"])
        #expect(result.status == 0, "\(result)")
        #expect(try String(contentsOfFile: chart, encoding: .utf8).hasSuffix("</svg>\n"))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == [
                "charts.svg", "known.db", "tw.svg",
            ])
    }

    @Test func missingDatabaseIsARuntimeError() throws {
        let result = try Sockscan.run(["report", "--db", "/nonexistent/history.db"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("does not exist"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    /// A version 1 history (SockHistoryTests' MigrationTests) is reported with the same numbers, and left as it is.
    @Test func aVersion1FileIsReadAsItIs() throws {
        let (scratch, path) = try HistoryFixture.makeVersion1History()
        defer { scratch.remove() }
        let before = try #require(Peek.bytes(path))
        let json = try Sockscan.run(["report", "--db", path, "--format", "json"])
        #expect(json.status == 0, "\(json)")
        #expect(
            json.lines.first?.contains(
                #""remote_address":"2001:db8::1","remote_port":443,"used":50,"capacity":100,"time_wait":30,"utilization":0.3000"#
            )
                == true, "\(json.stdout)")
        #expect(Peek.bytes(path) == before, "a reader changes nothing")
    }
}
