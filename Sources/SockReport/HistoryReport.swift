import SockDiag

/// The full scan with the highest port utilization among some samples, and its worst destination: where a
/// row's (or the report's peak) `%port` comes from.
public struct WorstScan: Hashable, Sendable {
    /// When the scan was made (the sample's time).
    public var time: Double
    /// The scan's worst utilization (``Sample/portUtilization``).
    public var utilization: Double
    /// Its worst destination, `nil` when it found none (only the UDP pool, or nothing connected).
    public var destination: DestinationReport?

    /// The scan of `sample`, if it has one.
    init?(_ sample: Sample) {
        guard let utilization = sample.portUtilization else { return nil }
        time = sample.time
        self.utilization = utilization
        destination = sample.worstDestination
    }

    /// The worse of `a` and `b`: the higher utilization, the later on a tie.
    static func worse(_ a: WorstScan?, _ b: WorstScan?) -> WorstScan? {
        guard let a else { return b }
        guard let b else { return a }
        return b.utilization > a.utilization || (b.utilization == a.utilization && b.time >= a.time) ? b : a
    }
}

/// Where a new recording run begins in a report: its first sample, and the last sample before it (of
/// another run).
public struct Restart: Hashable, Sendable {
    public var time: Double
    public var previousSample: Double
}

/// One line of a report: a sample, or the aggregate of the samples of one `--every` interval.
public struct ReportRow: Hashable, Sendable {
    /// The sample's time, or the start of the interval (seconds since 1970).
    public var time: Double
    /// Samples in the row.
    public var samples: Int
    /// The sar columns (averages for an aggregate).
    public var sar: [Double]
    /// TCP sockets per state number 0…15 (averages for an aggregate).
    public var states: [Double]
    /// The worst port utilization measured in this row (the highest of its full scans), `nil` when no full
    /// scan fell in it.
    public var portUtilization: Double?
    /// The latest port utilization known at this row (measured here or carried from an earlier row).
    public var lastPortUtilization: Double?
    /// The full scan of this row with the highest utilization, with its worst destination.
    public var worstScan: WorstScan?
    /// A new recording run began in this row, after samples of another run (the table prints a `RESTART`
    /// line, as sar does after a reboot).
    public var restart: Restart?
    /// Ticks missed in the row.
    public var missed: Int
    /// Recorder CPU over the row, microseconds.
    public var cpuMicroseconds: Int64
    /// Connections that ended over the row (its samples' intervals summed), `nil` when none of its samples
    /// counted them.
    public var closes: Int?
    /// The seconds ``closes`` were counted over (the samples' intervals summed).
    public var closeSeconds: Double = 0
    /// Destroy events the kernel dropped over the row (``closes`` is low by at most this many).
    public var droppedEvents = 0
    /// The destinations with the most closes over the row, most first: each one's closes summed over the
    /// samples in which it was among the busiest (as many as a sample keeps).
    public var topCloses: [DestinationCloses] = []

    /// ``closes`` over ``closeSeconds``: the row's closes per second; `nil` when not counted.
    public var closesPerSecond: Double? { closes.map { closeSeconds > 0 ? Double($0) / closeSeconds : 0 } }

    /// `closes` (of ``topCloses`` or another destination of the row) per second of the row.
    public func closesPerSecond(_ closes: DestinationCloses) -> Double {
        closeSeconds > 0 ? Double(closes.closes) / closeSeconds : 0
    }

    public subscript(column: SarColumn) -> Double { sar[column.rawValue] }
    public subscript(state: TCPState) -> Double { states[Int(state.rawValue & 0xF)] }

    /// Sockets in the states without a table column of their own.
    public var otherStates: Double {
        Sample.otherTableStates.reduce(0) { $0 + self[$1] }
    }

    init(_ sample: Sample) {
        time = sample.time
        samples = 1
        sar = sample.sar
        states = sample.states.byState.map { Double($0) }
        portUtilization = sample.portUtilization
        lastPortUtilization = sample.portUtilization
        worstScan = WorstScan(sample)
        missed = sample.missed
        cpuMicroseconds = sample.cpuMicroseconds
        if let counted = sample.closes {
            closes = counted.closes
            closeSeconds = counted.seconds
            droppedEvents = counted.droppedEvents
            topCloses = counted.top
        }
    }
}

/// The average of samples seen one at a time: sums and counts only, so that memory stays the same however
/// many samples there are (`sockscan watch` runs for as long as it is left).
public struct RunningAverage: Sendable {
    /// The first sample (the row's time), with its columns zeroed: the sums are kept apart.
    private var first: Sample?
    public private(set) var count = 0
    private var sar: [Double] = []
    private var states: [Double] = []
    private var portSum = 0.0
    private var portScans = 0
    private var worstScan: WorstScan?
    private var missed = 0
    private var cpuMicroseconds: Int64 = 0
    private var closes: Int?
    private var closeSeconds = 0.0
    private var droppedEvents = 0
    private var destinationCloses: [Destination: Int] = [:]
    private var keptPerSample = 0

    public init() {}

    public mutating func add(_ sample: Sample) {
        if first == nil {
            first = sample
            sar = Array(repeating: 0, count: sample.sar.count)
            states = Array(repeating: 0, count: 16)
        }
        count += 1
        for i in sar.indices { sar[i] += sample.sar[i] }
        for (i, count) in sample.states.byState.enumerated() { states[i] += Double(count) }
        if let ports = sample.portUtilization {
            portSum += ports
            portScans += 1
        }
        worstScan = WorstScan.worse(worstScan, WorstScan(sample))
        missed += sample.missed
        cpuMicroseconds += sample.cpuMicroseconds
        if let counted = sample.closes {
            closes = (closes ?? 0) + counted.closes
            closeSeconds += counted.seconds
            droppedEvents += counted.droppedEvents
            keptPerSample = max(keptPerSample, counted.top.count)
            for d in counted.top { destinationCloses[d.destination, default: 0] += d.closes }
        }
    }

    /// The average so far (as ``HistoryReport/average(_:)``), `nil` before the first sample.
    public var row: ReportRow? {
        guard let first else { return nil }
        var row = ReportRow(first)
        let n = Double(count)
        row.samples = count
        row.sar = sar.map { $0 / n }
        row.states = states.map { $0 / n }
        row.portUtilization = portScans > 0 ? portSum / Double(portScans) : nil
        row.lastPortUtilization = row.portUtilization
        row.worstScan = worstScan
        row.missed = missed
        row.cpuMicroseconds = cpuMicroseconds
        row.closes = closes
        row.closeSeconds = closeSeconds
        row.droppedEvents = droppedEvents
        row.topCloses = DestinationCloses.top(destinationCloses, keptPerSample)
        return row
    }
}

/// Per-interval rows, the average and the peak of a stretch of history.
public enum HistoryReport {
    /// The samples as rows, or aggregated per `every` (intervals aligned on local time: `1m` rows start on
    /// the minute, `1h` on the hour, `1d` at midnight, in `timeZone`).
    ///
    /// An aggregate row holds the average of each column over its samples (port utilization over its port
    /// scans), and the sum of missed ticks; its closes are summed, so that its closes per second are its
    /// closes over the seconds they were counted in. Rows carry forward the last port utilization seen.
    ///
    /// Only intervals holding samples have a row: a stretch without samples (the recorder was stopped) is a
    /// gap between rows, never rows of zeros. A row where a new recording run began after samples of another
    /// carries ``ReportRow/restart``.
    public static func rows(_ samples: [Sample], every: TimeSpan? = nil, timeZone: ReportTimeZone = .system)
        -> [ReportRow]
    {
        var rows: [ReportRow]
        // The restart at each sample that begins a run after another run's sample.
        var restarts: [Restart?] = [nil]
        for (previous, sample) in zip(samples, samples.dropFirst()) {
            let isRestart = previous.runID != nil && sample.runID != nil && previous.runID != sample.runID
            restarts.append(isRestart ? Restart(time: sample.time, previousSample: previous.time) : nil)
        }
        if let every {
            let width = every.seconds
            var groups: [(start: Double, samples: ArraySlice<Sample>, restart: Restart?)] = []
            var i = samples.startIndex
            while i < samples.endIndex {
                let offset = Double(timeZone.offset(at: samples[i].time))
                let start = ((samples[i].time + offset) / width).rounded(.down) * width - offset
                var j = i + 1
                while j < samples.endIndex {
                    let offset = Double(timeZone.offset(at: samples[j].time))
                    if ((samples[j].time + offset) / width).rounded(.down) * width - offset != start { break }
                    j += 1
                }
                groups.append((start, samples[i..<j], restarts[i..<j].lazy.compactMap { $0 }.first))
                i = j
            }
            rows = groups.map { group in
                var row = average(Array(group.samples))
                row.time = group.start
                row.restart = group.restart
                return row
            }
        } else {
            rows = samples.map(ReportRow.init)
            for i in rows.indices { rows[i].restart = restarts[i] }
        }
        var last: Double?
        for i in rows.indices {
            if let measured = rows[i].portUtilization { last = measured }
            rows[i].lastPortUtilization = last
        }
        return rows
    }

    /// The average of every column over `samples` (port utilization over the samples with a port scan; missed
    /// ticks, CPU and closes summed). Its time is the first sample's.
    public static func average(_ samples: [Sample]) -> ReportRow {
        precondition(!samples.isEmpty)
        var average = RunningAverage()
        for sample in samples { average.add(sample) }
        return average.row!
    }

    /// The highest value of every column over `samples` (each column on its own), with the scan of the highest
    /// port utilization and the interval with the most closes per second. Its time is when tcp-tw peaked.
    public static func peak(_ samples: [Sample]) -> ReportRow {
        precondition(!samples.isEmpty)
        var row = ReportRow(samples[0])
        row.samples = samples.count
        row.sar = (0..<row.sar.count).map { i in samples.map { $0.sar[i] }.max()! }
        row.states = (0..<16).map { i in Double(samples.map { $0.states[TCPState(rawValue: UInt8(i))] }.max()!) }
        row.portUtilization = samples.compactMap(\.portUtilization).max()
        row.lastPortUtilization = row.portUtilization
        row.worstScan = samples.reduce(nil) { WorstScan.worse($0, WorstScan($1)) }
        row.missed = samples.map(\.missed).max()!
        row.cpuMicroseconds = samples.map(\.cpuMicroseconds).max()!
        // The interval with the most closes per second, as it was.
        let busiest = samples.compactMap(\.closes).max { $0.closesPerSecond < $1.closesPerSecond }
        row.closes = busiest?.closes
        row.closeSeconds = busiest?.seconds ?? 0
        row.droppedEvents = busiest?.droppedEvents ?? 0
        row.topCloses = busiest?.top ?? []
        row.time = samples.max { $0[.tcpTW] < $1[.tcpTW] }!.time
        return row
    }

    /// The rows split where more than `maxGap` seconds pass from one row to the next (a chart draws each part
    /// as a line of its own, so that a stretch without samples shows as a gap, not as a straight line).
    public static func segments(_ rows: [ReportRow], maxGap: Double) -> [ArraySlice<ReportRow>] {
        guard !rows.isEmpty else { return [] }
        var segments: [ArraySlice<ReportRow>] = []
        var start = rows.startIndex
        for i in rows.indices.dropFirst() where rows[i].time - rows[i - 1].time > maxGap {
            segments.append(rows[start..<i])
            start = i
        }
        segments.append(rows[start...])
        return segments
    }

    /// The gap beyond which a chart breaks its lines: three rows' worth of time, a row being `every` or, per
    /// sample, the longest recording interval of `runs`.
    public static func maxGap(every: TimeSpan?, intervals: [TimeSpan]) -> Double {
        3 * max(every?.seconds ?? 0, intervals.map(\.seconds).max() ?? 0)
    }

    /// `▁▂▃▄▅▆▇█` for `values`, scaled from their minimum to their maximum; at most `width` characters
    /// (consecutive values merged by their maximum when there are more).
    public static func sparkline(_ values: [Double], width: Int = 80) -> String {
        guard !values.isEmpty else { return "" }
        var points = values
        if points.count > width {
            let per = Double(points.count) / Double(width)
            points = (0..<width).map { i in
                let a = Int(Double(i) * per)
                let b = max(a + 1, Int(Double(i + 1) * per))
                return values[a..<min(b, values.count)].max()!
            }
        }
        let blocks = Array("▁▂▃▄▅▆▇█")
        let low = points.min()!
        let high = points.max()!
        return String(
            points.map { v in
                high > low ? blocks[min(7, Int(((v - low) / (high - low) * 7).rounded()))] : blocks[0]
            })
    }
}
