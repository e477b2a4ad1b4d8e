extension Methods {
    /// The daemon's metrics: counters, gauges and latency histograms, as Prometheus text and as
    /// structured families. Read-only, open to every peer like `status`.
    public enum Metrics: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = MetricsResult
        public static let name = "metrics"
        public static let mutates = false
    }
}

/// Result of `metrics`: the same samples twice, as the Prometheus text exposition format (what
/// `adapterctl metrics` prints and the `metrics-textfile` file holds) and as structured families.
public struct MetricsResult: Codable, Sendable, Hashable {
    /// The format of `text`: `prometheus-text-0.0.4`.
    public var format: String
    /// Every family in the Prometheus text exposition format (`# HELP`, `# TYPE`, samples), families
    /// sorted by name, series by labels; ends with a newline.
    public var text: String
    /// The families of `text`, in the same order.
    public var families: [MetricFamilyInfo]

    /// The value of `format`.
    public static let prometheusTextFormat = "prometheus-text-0.0.4"

    public init(format: String = MetricsResult.prometheusTextFormat, text: String, families: [MetricFamilyInfo]) {
        self.format = format
        self.text = text
        self.families = families
    }

    /// The value of the sample `name` whose labels are exactly `labels`, if there is one.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        for family in families {
            if let sample = family.samples.first(where: { $0.name == name && $0.labels == labels }) { return sample.value }
        }
        return nil
    }
}

/// One metric family: its name, Prometheus type and help text, and its samples.
public struct MetricFamilyInfo: Codable, Sendable, Hashable {
    /// e.g. `adapterd_installs_total`.
    public var name: String
    /// `counter`, `gauge` or `histogram`.
    public var type: String
    public var help: String
    /// For a histogram: per series its `_bucket` samples (label `le`, cumulative), `_sum` and `_count`.
    public var samples: [MetricSample]

    public init(name: String, type: String, help: String, samples: [MetricSample]) {
        self.name = name
        self.type = type
        self.help = help
        self.samples = samples
    }
}

/// One sample line of the exposition: `name{labels} value`.
public struct MetricSample: Codable, Sendable, Hashable {
    public var name: String
    public var labels: [String: String]
    public var value: Double

    public init(name: String, labels: [String: String], value: Double) {
        self.name = name
        self.labels = labels
        self.value = value
    }
}
