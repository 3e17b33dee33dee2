import Foundation
import SockDiag
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

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
