/// What kind of metric a family is, as both exposition formats name it.
public enum MetricType: String, Hashable, Sendable {
    /// A value that goes up and down.
    case gauge
    /// A value that only goes up (reset when the process restarts). Its name ends in `_total`.
    case counter
    /// Constant labels describing the target, with the value 1 (OpenMetrics `info`; a gauge in the
    /// Prometheus text format). Its name ends in `_info`.
    case info
}

/// One label of a sample: `name="value"`.
public struct MetricLabel: Hashable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One sample of a family: its labels and its value.
public struct MetricSample: Hashable, Sendable {
    public var labels: [MetricLabel]
    public var value: Double

    public init(_ labels: [MetricLabel] = [], _ value: Double) {
        self.labels = labels
        self.value = value
    }

    /// The value of the label `name`, if the sample has it.
    public func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
}

/// A metric family: one name, help, type and unit, and its samples (one per label set).
///
/// ``name`` is what a PromQL query names: counters end in `_total` and info families in `_info`, in both
/// formats. OpenMetrics names the family without that suffix in its `# TYPE`, `# HELP` and `# UNIT` lines
/// (``openMetricsName``), and the samples with it.
public struct MetricFamily: Hashable, Sendable {
    public var name: String
    public var help: String
    public var type: MetricType
    /// The unit the name ends with (`seconds`, `bytes`, `ratio`), for OpenMetrics' `# UNIT` line.
    public var unit: String?
    public var samples: [MetricSample]

    /// - Precondition: a counter's name ends in `_total`, an info family's in `_info`, and a name with a
    ///   unit ends in `_` + unit (before `_total`).
    public init(name: String, help: String, type: MetricType, unit: String? = nil, samples: [MetricSample]) {
        self.name = name
        self.help = help
        self.type = type
        self.unit = unit
        self.samples = samples
        precondition(type != .counter || name.hasSuffix("_total"), "counter \(name) must end in _total")
        precondition(type != .info || name.hasSuffix("_info"), "info family \(name) must end in _info")
        precondition(unit.map { openMetricsName.hasSuffix("_" + $0) } ?? true, "\(name) must end in its unit")
    }

    /// The family name in OpenMetrics: without the `_total` of a counter or the `_info` of an info family.
    public var openMetricsName: String {
        switch type {
        case .gauge: name
        case .counter: String(name.dropLast("_total".count))
        case .info: String(name.dropLast("_info".count))
        }
    }

    /// The sample whose labels include all of `labels` (the first, if several do).
    public func sample(_ labels: [String: String] = [:]) -> MetricSample? {
        samples.first { sample in labels.allSatisfy { sample.label($0.key) == $0.value } }
    }
}
