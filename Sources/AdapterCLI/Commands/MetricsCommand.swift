import AdapterProtocol
import ArgumentParser

/// `adapterctl metrics`: the daemon's counters, gauges and latency histograms.
struct MetricsCommand: DaemonQueryCommand {
    typealias Method = Methods.Metrics

    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Show the daemon's metrics (Prometheus text format; --json for structured families).",
        discussion: """
            Installs accepted and refused by reason, removals, routes by kind (task, text), errors by \
            code, request latency per method and re-plan durations (histograms), served bytes, budget, \
            generation, tasks, quarantine. The text is the Prometheus text exposition format, the same \
            that adapterd writes to metrics-textfile for node_exporter when that is configured.
            """)

    @OptionGroup var client: ClientOptions

    /// The exposition text as the daemon sent it (its final newline is print's).
    static func render(_ result: MetricsResult) -> String {
        result.text.hasSuffix("\n") ? String(result.text.dropLast()) : result.text
    }
}
