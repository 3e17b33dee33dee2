import Foundation
import SockDiag
import SockFormat
import SockHistory
import SockReport
import SockScanTestSupport
import Testing

/// 2026-05-01T10:00:00Z.
let baseTime = 1_777_629_600.0

/// Twelve samples 10 s apart from `baseTime`: tcp-tw = i, established = 100 + 2i, udpsck = 7, a port scan
/// every sixth sample at 10% then 20%.
func knownSamples(start: Double = baseTime) -> [Sample] {
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

@Suite struct AggregationTests {
    let utc = ReportTimeZone.utc

    @Test func perSampleRowsCarryPortUtilizationForward() {
        let rows = HistoryReport.rows(knownSamples(), timeZone: utc)
        #expect(rows.count == 12)
        #expect(rows.map { $0[.tcpTW] } == (0..<12).map(Double.init))
        #expect(rows[0].portUtilization == 0.1)
        #expect(rows[3].portUtilization == nil)
        #expect(rows[3].lastPortUtilization == 0.1)
        #expect(rows[7].lastPortUtilization == 0.2)
    }

    @Test func everyMinuteAverages() {
        let rows = HistoryReport.rows(knownSamples(), every: .seconds(60), timeZone: utc)
        #expect(rows.count == 2)
        #expect(rows.map(\.time) == [baseTime, baseTime + 60])
        #expect(rows.map(\.samples) == [6, 6])
        #expect(rows.map { $0[.tcpTW] } == [2.5, 8.5])  // (0+…+5)/6, (6+…+11)/6
        #expect(rows.map { $0[.established] } == [105, 117])
        #expect(rows.map { $0[.udpsck] } == [7, 7])
        #expect(rows.map(\.portUtilization) == [0.1, 0.2])
        #expect(rows.map(\.missed) == [0, 2])
    }

    @Test func intervalsAlignOnTheClockNotOnTheFirstSample() {
        // Starting at :30, 1-minute rows hold samples 0-2 (10:00:30-10:00:50), 3-8, 9-11.
        let rows = HistoryReport.rows(knownSamples(start: baseTime + 30), every: .seconds(60), timeZone: utc)
        #expect(rows.map(\.time) == [baseTime, baseTime + 60, baseTime + 120])
        #expect(rows.map(\.samples) == [3, 6, 3])
        #expect(rows.map { $0[.tcpTW] } == [1, 5.5, 10])
    }

    @Test func hourRowsStartOnTheLocalHour() {
        // India is +05:30: a local hour starts at :30 UTC.
        let kolkata = ReportTimeZone.fixed(secondsEast: 19_800)  // Asia/Kolkata: +05:30, no summer time
        let samples = [0.0, 1500, 1900, 5000].map { Sample(time: baseTime + $0) }
        let rows = HistoryReport.rows(samples, every: .seconds(3600), timeZone: kolkata)
        #expect(rows.map(\.time) == [baseTime - 1800, baseTime + 1800])
        #expect(rows.map(\.samples) == [2, 2])
    }

    @Test func averageAndPeakAreOverSamples() {
        let samples = knownSamples()
        let average = HistoryReport.average(samples)
        let peak = HistoryReport.peak(samples)
        #expect(average[.tcpTW] == 5.5)
        #expect(average[.established] == 111)
        #expect(abs(average.portUtilization! - 0.15) < 1e-12, "the mean of the two port scans")
        #expect(peak[.tcpTW] == 11)
        #expect(peak[.established] == 122)
        #expect(peak.time == baseTime + 110)
        #expect(peak.portUtilization == 0.2)
    }

    @Test func runningAverageMatchesTheAverageOfTheSamples() {
        var running = RunningAverage()
        #expect(running.row == nil)
        var seen: [Sample] = []
        for sample in knownSamples() {
            running.add(sample)
            seen.append(sample)
            #expect(running.row?[.tcpTW] == Double(seen.count - 1) / 2, "tcp-tw is 0, 1, 2…")
        }
        let row = running.row!
        #expect(row.samples == 12 && row.time == baseTime)
        #expect(row[.tcpTW] == 5.5 && row[.established] == 111 && row[.udpsck] == 7)
        #expect(abs(row.portUtilization! - 0.15) < 1e-12)
        #expect(row.missed == 2)
    }

    @Test func sparklineSpansTheRange() {
        #expect(HistoryReport.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█")
        #expect(HistoryReport.sparkline([3, 3]) == "▁▁")
        #expect(HistoryReport.sparkline((0..<200).map(Double.init), width: 50).count == 50)
        #expect(HistoryReport.sparkline([0, 100] + Array(repeating: 0, count: 98), width: 10).hasPrefix("█"))
    }
}

/// Rows written through the store, read back by `sockscan report` as a user runs it.
@Suite(.serialized) struct ReportCLITests {
    /// A history holding ``knownSamples()`` (and its scratch directory).
    static func makeHistory() throws -> (Scratch, String) {
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
    static func makeHistory(
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
    static func makeScannedHistory() throws -> (Scratch, String) {
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

    @Test func theWorstDestinationIsTheWorstScanInTheRange() throws {
        let (scratch, path) = try Self.makeScannedHistory()
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

    /// Two runs 24 h apart: 6 samples 10 s apart from 10:00:00, then 6 from 10:00:50 the next day; a port
    /// scan every third sample.
    static func makeRestartedHistory() throws -> (Scratch, String) {
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

    @Test func aRestartIsMarkedAndAGapIsNotFilled() throws {
        let (scratch, path) = try Self.makeRestartedHistory()
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
        let (scratch, path) = try Self.makeHistory()
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
        let (scratch, path) = try Self.makeHistory()
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
        let (scratch, path) = try Self.makeHistory()
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
        let (scratch, path) = try Self.makeHistory()
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
        let (scratch, path) = try Self.makeHistory()
        defer { scratch.remove() }
        let result = try Sockscan.run(["report", "--db", path, "--from", "2026-05-02T00:00Z", "--format", "csv"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines.count == 1 && result.lines[0].hasPrefix("time,totsck,tcpsck,"), "\(result.stdout)")
        #expect(result.stderr.contains("no samples"), "\(result.stderr)")
    }

    @Test func chartWriteErrorsAreOneClearLine() throws {
        let (scratch, path) = try Self.makeHistory()
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
}

/// Retention on a real store: chunks, oldest first, destinations with their samples, empty runs last.
@Suite struct PruneTests {
    @Test func pruneDeletesTheOldestInBoundedChunks() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let store = try HistoryStore.openForRecording(path: scratch.file("prune.db"))
        let info = { (started: Double) in
            HistoryStore.RunInfo(
                started: started, pid: getpid(), host: "test", netns: nil, filter: nil, interval: .seconds(10),
                fullEvery: .seconds(10), version: "test")
        }
        let destination = storedDestination(
            localAddress: "127.0.0.1", remoteAddress: "127.0.0.2", remotePort: 80, used: 1, capacity: 100,
            established: 1, timeWait: 0, utilization: 0.01)
        // An old run of 5 samples, then a run of 20: 25 samples 10 s apart, each with a destination.
        for (run, range) in [(0, 0..<5), (1, 5..<25)] {
            try store.beginRun(info(baseTime + Double(range.lowerBound) * 10))
            for i in range {
                let ports = PortSnapshot(
                    worstUtilization: 0.01, capacity: 100, destinationCount: 1, udpPorts: 0, top: [destination])
                try store.insert(Sample(time: baseTime + Double(i) * 10), tick: Int64(i), ports: ports)
            }
            if run == 0 { try store.endRun(at: baseTime + 40) }
        }
        let queue = try Peek.queue(store.path)
        func count(_ table: String) throws -> Int {
            try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM \(table)") ?? 0 }
        }

        let cutoff = baseTime + 170  // samples 0…16 are older
        #expect(try store.prune(before: cutoff, limit: 8) == 8)
        #expect(try count("run") == 2, "the old run's samples are gone, the run only once the backlog is")
        #expect(try store.prune(before: cutoff, limit: 8) == 8)
        #expect(try store.prune(before: cutoff, limit: 8) == 1)
        #expect(try store.prune(before: cutoff, limit: 8) == 0)
        #expect(try store.samples().map(\.time) == (17..<25).map { baseTime + Double($0) * 10 })
        #expect(try count("destination") == 8, "destinations go with their samples")
        #expect(try count("run") == 1)
        #expect(try Peek.integrity(store.path) == "ok")
    }
}
