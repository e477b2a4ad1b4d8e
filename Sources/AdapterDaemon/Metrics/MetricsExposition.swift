import AdapterProtocol
import Foundation

/// Turns a registry's Prometheus text into what `metrics` answers: families sorted by name and series
/// by labels (the registry emits them in hash order, different in every process), each family with
/// its `# HELP` line (the swift-metrics API carries no help text), and the same samples as structured
/// families.
enum MetricsExposition {
    /// One family as emitted: its TYPE, and its series (a counter or gauge sample, or a histogram's
    /// `_bucket` lines, `_sum` and `_count`), each as its lines.
    private struct Family {
        var name: String
        var type: String
        var series: [[String]] = []
    }

    static func render(_ emitted: [UInt8], help: [String: String]) -> MetricsResult {
        var families: [Family] = []
        for line in String(decoding: emitted, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let words = line.dropFirst("# TYPE ".count).split(separator: " ")
                families.append(Family(name: String(words.first ?? ""), type: String(words.last ?? "")))
            } else if line.hasPrefix("#") || families.isEmpty {
                continue
            } else {
                let last = families.count - 1
                // A histogram's series ends with its `_count` line; other families have one line per series.
                if families[last].series.isEmpty || families[last].type != "histogram"
                    || families[last].series[families[last].series.count - 1].last.map(isCount) == true {
                    families[last].series.append([])
                }
                families[last].series[families[last].series.count - 1].append(String(line))
            }
        }
        families.sort { $0.name < $1.name }
        var text = ""
        var infos: [MetricFamilyInfo] = []
        for var family in families {
            family.series.sort { seriesKey($0) < seriesKey($1) }
            let helpText = help[family.name] ?? ""
            text += "# HELP \(family.name) \(escapeHelp(helpText))\n# TYPE \(family.name) \(family.type)\n"
            var samples: [MetricSample] = []
            for line in family.series.joined() {
                text += line + "\n"
                if let sample = parseSample(line) { samples.append(sample) }
            }
            infos.append(MetricFamilyInfo(name: family.name, type: family.type, help: helpText, samples: samples))
        }
        return MetricsResult(text: text, families: infos)
    }

    private static func isCount(_ line: String) -> Bool {
        let name = line.prefix { $0 != "{" && $0 != " " }
        return name.hasSuffix("_count")
    }

    /// Orders series by their labels (a histogram's by its `_count` line, which has no `le`).
    private static func seriesKey(_ lines: [String]) -> String {
        guard let line = lines.last, let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}") else { return "" }
        return String(line[open...close])
    }

    /// HELP text escaped as the format requires: backslash and line feed.
    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample line `name{a="x",b="y"} value` (the registry writes no timestamps).
    static func parseSample(_ line: String) -> MetricSample? {
        let scalars = Array(line.unicodeScalars)
        var index = 0
        var name = ""
        while index < scalars.count, scalars[index] != "{", scalars[index] != " " {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        var labels: [String: String] = [:]
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while index < scalars.count, scalars[index] != "}" {
                var key = ""
                while index < scalars.count, scalars[index] != "=" {
                    if scalars[index] != "," { key.unicodeScalars.append(scalars[index]) }
                    index += 1
                }
                index += 2  // `="`
                var value = ""
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\", index + 1 < scalars.count {
                        index += 1
                        value.unicodeScalars.append(scalars[index] == "n" ? "\n" : scalars[index])
                    } else {
                        value.unicodeScalars.append(scalars[index])
                    }
                    index += 1
                }
                index += 1  // closing quote
                labels[key] = value
            }
            index += 1  // `}`
        }
        let valueText = String(String.UnicodeScalarView(scalars[min(index, scalars.count)...]))
            .trimmingCharacters(in: .whitespaces)
        // Non-finite values (none of adapterd's metrics has one) stay in the text only: JSON has no such numbers.
        guard !name.isEmpty, let value = parseValue(valueText), value.isFinite else { return nil }
        return MetricSample(name: name, labels: labels, value: value)
    }

    /// A sample value: a Go-style float, or `+Inf`, `-Inf`, `NaN`.
    static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return Double(text)
        }
    }
}
