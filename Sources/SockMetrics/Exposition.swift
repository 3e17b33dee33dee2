import Prometheus

/// The two text formats a scraper may ask for.
public enum ExpositionFormat: Hashable, Sendable {
    /// The Prometheus text format 0.0.4: what node_exporter's textfile collector reads, and what a
    /// client gets when it names no format.
    case prometheus
    /// OpenMetrics 1.0 text (`# UNIT` lines, counters named without `_total` in `# TYPE`, `info`, `# EOF`).
    case openMetrics

    /// `text/plain; version=0.0.4; charset=utf-8` or `application/openmetrics-text; version=1.0.0; charset=utf-8`.
    public var contentType: String {
        switch self {
        case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format an HTTP `Accept` header asks for: the acceptable one with the highest `q` (the first
    /// listed on a tie); the Prometheus text format when the header is absent or names neither.
    ///
    /// Prometheus 2.x sends `application/openmetrics-text;version=1.0.0,application/openmetrics-text;
    /// version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1` and so gets OpenMetrics; `curl`
    /// sends `*/*` and gets the Prometheus text format. OpenMetrics 0.0.1 and 1.0.0 are the same text
    /// for these metrics, so either version is served as 1.0.0.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheus }
        var best: (format: ExpositionFormat, q: Double)?
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
            guard let type = parts.first, !type.isEmpty else { continue }
            var q = 1.0
            var version: String?
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                guard pair.count == 2 else { continue }
                let value = pair[1].trimmingCharacters(quotes: true)
                switch pair[0] {
                case "q": q = Double(value) ?? 0
                case "version": version = value
                default: break
                }
            }
            let format: ExpositionFormat
            switch type {
            case "application/openmetrics-text":
                guard version == nil || version == "1.0.0" || version == "0.0.1" else { continue }
                format = .openMetrics
            case "text/plain":
                // 1.0.0 is 0.0.4 plus UTF-8 names, which these names do not need.
                guard version == nil || version == "0.0.4" || version == "1.0.0" else { continue }
                format = .prometheus
            case "*/*", "text/*": format = .prometheus
            case "application/*": format = .openMetrics
            default: continue
            }
            guard q > 0 else { continue }
            if best == nil || q > best!.q { best = (format, q) }
        }
        return best?.format ?? .prometheus
    }
}

/// Writes metric families as text.
public enum Exposition {
    /// The families in `format`, each family once, with `# HELP` and `# TYPE` lines; families without
    /// samples are left out.
    ///
    /// The Prometheus text format is written by swift-prometheus (`PrometheusCollectorRegistry`): one
    /// registry per family, so the families keep their order, and its sample lines put back in the
    /// family's order (a registry emits in hash order). swift-prometheus writes no OpenMetrics, so that
    /// format is written here from the same families.
    public static func render(_ families: [MetricFamily], as format: ExpositionFormat) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096 + families.reduce(0) { $0 + $1.samples.count * 96 })
        switch format {
        case .prometheus:
            var text: [UInt8] = []
            for family in families where !family.samples.isEmpty {
                text.removeAll(keepingCapacity: true)
                prometheusRegistry(family).emit(into: &text)
                appendInOrder(text, family, into: &buffer)
            }
        case .openMetrics:
            for family in families where !family.samples.isEmpty {
                writeOpenMetrics(family, into: &buffer)
            }
            buffer.append(contentsOf: "# EOF\n".utf8)
        }
        return buffer
    }

    /// A registry holding one family: gauges for gauge and info families, a counter for a counter.
    static func prometheusRegistry(_ family: MetricFamily) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        let descriptor = MetricNameDescriptor(metricName: family.name, unitName: "", helpText: family.help)
        for sample in family.samples {
            let labels = sample.labels.map { ($0.name, $0.value) }
            switch family.type {
            case .gauge, .info:
                registry.makeGauge(descriptor: descriptor, labels: labels).set(to: sample.value)
            case .counter:
                let counter = registry.makeCounter(descriptor: descriptor, labels: labels)
                if let whole = Int64(exactly: sample.value) {
                    counter.increment(by: whole)
                } else {
                    counter.increment(by: sample.value)
                }
            }
        }
        return registry
    }

    /// Appends one family's text with its sample lines in the order of `family.samples`: the text up to a
    /// line's last space names the series, written with the same escaping as ``writeSeries(_:_:into:)``.
    static func appendInOrder(_ text: [UInt8], _ family: MetricFamily, into buffer: inout [UInt8]) {
        var rank: [[UInt8]: Int] = [:]
        for (i, sample) in family.samples.enumerated() {
            var series: [UInt8] = []
            writeSeries(family.name, sample, into: &series)
            rank[series] = i
        }
        var samples: [(rank: Int, line: ArraySlice<UInt8>)] = []
        for line in text.split(separator: UInt8(ascii: "\n")) {
            if line.first == UInt8(ascii: "#") {
                buffer.append(contentsOf: line)
                buffer.append(UInt8(ascii: "\n"))
            } else {
                let space = line.lastIndex(of: UInt8(ascii: " ")) ?? line.endIndex
                samples.append((rank[Array(line[..<space])] ?? Int.max, line))
            }
        }
        samples.sort { $0.rank < $1.rank }
        for sample in samples {
            // swift-prometheus writes Swift's `inf`, `-inf` and `nan`; the text format spells them
            // `+Inf`, `-Inf` and `NaN` (``number(_:)``).
            let space = sample.line.lastIndex(of: UInt8(ascii: " ")) ?? sample.line.startIndex
            let value = sample.line[sample.line.index(after: space)...]
            if let last = value.last, last == UInt8(ascii: "f") || last == UInt8(ascii: "n"),
                let special = Double(String(decoding: value, as: UTF8.self)), !special.isFinite
            {
                buffer.append(contentsOf: sample.line[...space])
                buffer.append(contentsOf: number(special).utf8)
            } else {
                buffer.append(contentsOf: sample.line)
            }
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    /// `name{label="value",…}`, label values escaped.
    static func writeSeries(_ name: String, _ sample: MetricSample, into buffer: inout [UInt8]) {
        buffer.append(contentsOf: name.utf8)
        if !sample.labels.isEmpty {
            buffer.append(UInt8(ascii: "{"))
            for (i, label) in sample.labels.enumerated() {
                if i > 0 { buffer.append(UInt8(ascii: ",")) }
                buffer.append(contentsOf: label.name.utf8)
                buffer.append(contentsOf: "=\"".utf8)
                appendEscaped(label.value, into: &buffer)
                buffer.append(UInt8(ascii: "\""))
            }
            buffer.append(UInt8(ascii: "}"))
        }
    }

    static func writeOpenMetrics(_ family: MetricFamily, into buffer: inout [UInt8]) {
        let name = family.openMetricsName
        buffer.append(contentsOf: "# TYPE \(name) \(family.type.rawValue)\n".utf8)
        if let unit = family.unit { buffer.append(contentsOf: "# UNIT \(name) \(unit)\n".utf8) }
        buffer.append(contentsOf: "# HELP \(name) ".utf8)
        appendEscaped(family.help, into: &buffer)
        buffer.append(UInt8(ascii: "\n"))
        for sample in family.samples {
            writeSeries(family.name, sample, into: &buffer)
            buffer.append(UInt8(ascii: " "))
            buffer.append(contentsOf: number(sample.value).utf8)
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    /// OpenMetrics escapes backslash, double quote and line feed in label values and help text.
    static func appendEscaped(_ text: String, into buffer: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\""): buffer.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\n"): buffer.append(contentsOf: #"\n"#.utf8)
            default: buffer.append(byte)
            }
        }
    }

    /// A sample value: whole numbers without a fraction (`42`), others in Swift's shortest exact form
    /// (`0.125`, `1e-05`), and `NaN`, `+Inf`, `-Inf`.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }

    func trimmingCharacters(quotes: Bool) -> String {
        var s = Substring(self)
        if quotes, s.count >= 2, s.first == "\"", s.last == "\"" { s = s.dropFirst().dropLast() }
        return String(s)
    }
}
