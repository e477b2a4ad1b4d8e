import Foundation

/// A strict reader of the Prometheus text exposition format 0.0.4, written for the tests from the
/// format's description (independent of the daemon's own reading of it): every line is `# HELP`,
/// `# TYPE`, another comment or a sample; names and label names match the format's grammar; label
/// values use only its escapes; values are floats, `+Inf`, `-Inf` or `NaN`; a family's lines are
/// contiguous, its TYPE comes before its samples and is declared once; no series repeats; a histogram
/// has per series cumulative `_bucket`s with increasing `le`, a `+Inf` bucket equal to its `_count`, and
/// a `_sum`.
struct PrometheusTextValidator {
    struct Sample: Hashable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Family {
        var type: String
        var help: String?
        var samples: [Sample] = []
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// The families of `text`, by name; throws at the first violation.
    static func parse(_ text: String) throws -> [String: Family] {
        guard text.hasSuffix("\n") else { throw Invalid(description: "the text does not end with a line feed") }
        var families: [String: Family] = [:]
        var finished: Set<String> = []
        var current: String? = nil
        var seenSeries: Set<String> = []
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false)
        for (number, lineText) in lines.enumerated() {
            let line = String(lineText)
            let place = "line \(number + 1) '\(line)'"
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                let name = String(rest.prefix { $0 != " " })
                guard isMetricName(name), rest.count > name.count, rest[rest.index(rest.startIndex, offsetBy: name.count)] == " " else {
                    throw Invalid(description: "\(place): bad metric name or missing text")
                }
                let value = String(rest.dropFirst(name.count + 1))
                if name != current {
                    guard !finished.contains(name) else { throw Invalid(description: "\(place): family \(name) is not contiguous") }
                    if let current { finished.insert(current) }
                    current = name
                }
                if line.hasPrefix("# HELP ") {
                    guard families[name]?.help == nil else { throw Invalid(description: "\(place): second HELP") }
                    guard families[name]?.samples.isEmpty ?? true else { throw Invalid(description: "\(place): HELP after samples") }
                    try checkHelpEscapes(value, place: place)
                    families[name, default: Family(type: "")].help = value
                } else {
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(value) else {
                        throw Invalid(description: "\(place): unknown type")
                    }
                    guard families[name]?.type.isEmpty ?? true else { throw Invalid(description: "\(place): second TYPE") }
                    guard families[name]?.samples.isEmpty ?? true else { throw Invalid(description: "\(place): TYPE after samples") }
                    families[name, default: Family(type: "")].type = value
                }
                continue
            }
            if line.hasPrefix("#") { continue }
            guard !line.isEmpty else { throw Invalid(description: "\(place): empty line") }
            let sample = try parseSample(line, place: place)
            let family = familyName(of: sample.name, declared: families)
            guard let family, let declared = families[family], !declared.type.isEmpty else {
                throw Invalid(description: "\(place): sample without a TYPE before it")
            }
            guard family == current else { throw Invalid(description: "\(place): family \(family) is not contiguous") }
            if declared.type != "histogram" {
                guard sample.name == family else { throw Invalid(description: "\(place): \(declared.type) sample named \(sample.name)") }
            }
            let key = sample.name + "|" + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            guard seenSeries.insert(key).inserted else { throw Invalid(description: "\(place): series repeated") }
            families[family]!.samples.append(sample)
        }
        for (name, family) in families where family.type == "histogram" {
            try checkHistogram(name, family)
        }
        return families
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_" || first == ":" else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" || $0 == ":" }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCIILetter || first == "_", !name.hasPrefix("__") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetter || $0.isASCIIDigit || $0 == "_" }
    }

    static func checkHelpEscapes(_ text: String, place: String) throws {
        var escaped = false
        for character in text {
            if escaped {
                guard character == "\\" || character == "n" else { throw Invalid(description: "\(place): bad escape in HELP") }
                escaped = false
            } else if character == "\\" {
                escaped = true
            }
        }
        guard !escaped else { throw Invalid(description: "\(place): HELP ends in a backslash") }
    }

    static func parseValue(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default:
            // Go's ParseFloat syntax: digits, optional sign, point, exponent; no other letters.
            guard !text.isEmpty, text.allSatisfy({ "0123456789+-.eE".contains($0) }) else { return nil }
            return Double(text)
        }
    }

    static func parseSample(_ line: String, place: String) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isMetricName(name) else { throw Invalid(description: "\(place): bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let labelName = String(rest.prefix { $0 != "=" })
                guard isLabelName(labelName) else { throw Invalid(description: "\(place): bad label name '\(labelName)'") }
                rest = rest.dropFirst(labelName.count)
                guard rest.hasPrefix("=\"") else { throw Invalid(description: "\(place): label without =\"") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let character = rest.first else { throw Invalid(description: "\(place): unterminated label value") }
                    rest = rest.dropFirst()
                    if character == "\"" { break }
                    if character == "\\" {
                        guard let escaped = rest.first, ["\\", "\"", "n"].contains(escaped) else {
                            throw Invalid(description: "\(place): bad escape in a label value")
                        }
                        value.append(escaped == "n" ? "\n" : escaped)
                        rest = rest.dropFirst()
                    } else {
                        guard character != "\n" else { throw Invalid(description: "\(place): raw line feed in a label value") }
                        value.append(character)
                    }
                }
                guard labels.updateValue(value, forKey: labelName) == nil else {
                    throw Invalid(description: "\(place): label \(labelName) repeated")
                }
                if rest.first == "," { rest = rest.dropFirst() } else if rest.first != "}" {
                    throw Invalid(description: "\(place): expected , or } after a label")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw Invalid(description: "\(place): no space before the value") }
        let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 1 || fields.count == 2, let value = parseValue(String(fields[0])) else {
            throw Invalid(description: "\(place): bad value")
        }
        if fields.count == 2 {
            guard Int64(fields[1]) != nil else { throw Invalid(description: "\(place): bad timestamp") }
        }
        return Sample(name: name, labels: labels, value: value)
    }

    /// The declared family a sample belongs to: its own name, or a histogram's for `_bucket`, `_sum`, `_count`.
    static func familyName(of sample: String, declared: [String: Family]) -> String? {
        if declared[sample] != nil { return sample }
        for suffix in ["_bucket", "_sum", "_count"] where sample.hasSuffix(suffix) {
            let base = String(sample.dropLast(suffix.count))
            if declared[base]?.type == "histogram" { return base }
        }
        return nil
    }

    static func checkHistogram(_ name: String, _ family: Family) throws {
        var series: [[String: String]: (buckets: [(Double, Double)], sum: Double?, count: Double?)] = [:]
        for sample in family.samples {
            var labels = sample.labels
            if sample.name == name + "_bucket" {
                guard let le = labels.removeValue(forKey: "le"), let bound = parseValue(le) else {
                    throw Invalid(description: "\(name): bucket without a valid le")
                }
                series[labels, default: ([], nil, nil)].buckets.append((bound, sample.value))
            } else if sample.name == name + "_sum" {
                series[labels, default: ([], nil, nil)].sum = sample.value
            } else if sample.name == name + "_count" {
                series[labels, default: ([], nil, nil)].count = sample.value
            } else {
                throw Invalid(description: "\(name): histogram sample named \(sample.name)")
            }
        }
        for (labels, histogram) in series {
            guard let count = histogram.count, histogram.sum != nil else {
                throw Invalid(description: "\(name)\(labels): no _count or _sum")
            }
            guard let last = histogram.buckets.last, last.0 == .infinity, last.1 == count else {
                throw Invalid(description: "\(name)\(labels): the +Inf bucket is missing or differs from _count")
            }
            for (earlier, later) in zip(histogram.buckets, histogram.buckets.dropFirst()) {
                guard earlier.0 < later.0 else { throw Invalid(description: "\(name)\(labels): le not increasing") }
                guard earlier.1 <= later.1 else { throw Invalid(description: "\(name)\(labels): buckets not cumulative") }
            }
        }
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
