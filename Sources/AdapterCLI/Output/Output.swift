import AdapterProtocol
import Foundation

/// Printing helpers shared by the commands: JSON, readable errors, sizes and times.
enum Output {
    /// The version of adapterctl's `--json` output, printed as the top-level `"schema"` member of every
    /// JSON document (each is an object; `scan --json` prints one object per line, each with it).
    /// Within a schema version, members are only ever added, never renamed, retyped or removed; a change
    /// that would break a reader raises it.
    static let jsonSchemaVersion = 1

    /// Prints `value` as JSON: exact JSON with `"schema"` added, the characters a terminal would act on
    /// escaped (`TerminalSafeText.jsonText`).
    static func printJSON<T: Encodable>(_ value: T) {
        if let text = json(value) { print(text) }
    }

    /// `value` as the JSON document `printJSON` prints (nil if it cannot be encoded: a non-finite number).
    /// A value that is not a JSON object (none is today) is printed as `{"schema": 1, "value": …}`.
    static func json<T: Encodable>(_ value: T) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let plain = try? encoder.encode(value) else { return nil }
        let isObject = plain.first { !Character(UnicodeScalar($0)).isWhitespace } == UInt8(ascii: "{")
        let data = isObject ? try? encoder.encode(SchemaVersioned(value: value))
                            : try? encoder.encode(SchemaVersionedValue(value: value))
        return data.map { TerminalSafeText.jsonText(String(decoding: $0, as: UTF8.self)) }
    }

    /// Prints human-readable output on stdout: every character a terminal acts on is escaped except
    /// the line breaks of the layout (values interpolated into it must be escaped by the caller,
    /// `String.terminalSafe`, so that their own line breaks are shown escaped too).
    static func printText(_ text: String) {
        print(TerminalSafeText.escape(text, keepingLineBreaks: true))
    }

    /// A readable explanation of a daemon error, with the verdict of a refusal (the daemon's strings
    /// escaped for the terminal).
    static func describe(_ error: RPCError) -> String {
        var text = "\(error.message.terminalSafe) [\(error.code.name)]"
        if error.code == .refused, let details = error.details(as: RefusalDetails.self) {
            let verdict = details.verdict
            let comparison = verdict.score >= verdict.threshold ? "≥" : "<"
            text += "\n  decision: \(verdict.decision.terminalSafe)  score \(format(verdict.score)) \(comparison) threshold \(format(verdict.threshold))  (model \(verdict.model.terminalSafe))"
            for reason in verdict.reasons ?? [] { text += "\n  \(reason.terminalSafe)" }
            text += "\n  sha256:   \(details.sha256.terminalSafe)  quarantine record #\(details.quarantineId)"
            if !verdict.topFeatures.isEmpty {
                text += "\n  top features:"
                let width = verdict.topFeatures.map(\.name.terminalSafe.count).max() ?? 0
                for feature in verdict.topFeatures {
                    let name = feature.name.terminalSafe.padding(toLength: width, withPad: " ", startingAt: 0)
                    text += "\n    \(name)  value \(format(feature.value))  contribution \(signed(feature.contribution))"
                }
            }
        } else if error.code == .overBudget, let details = error.details(as: OverBudgetDetails.self) {
            text += "\n  budget \(size(details.limitBytes)), served \(size(details.servedBytes)), needed \(size(details.requiredBytes))"
        }
        return text
    }

    static func size(_ bytes: Int64) -> String { ByteSize.format(bytes) }

    static func format(_ value: Double) -> String { String(format: "%.3f", value) }

    /// How a served adapter is shown in tables: the protocol's kind, except that a "merged" adapter
    /// of one task is that task's own update re-encoded at a lower rank, not a multi-task merge.
    static func servedKind(_ kind: String, taskCount: Int) -> String {
        kind == "merged" && taskCount == 1 ? "re-encoded" : kind.terminalSafe
    }

    static func signed(_ value: Double) -> String { String(format: "%+.3f", value) }

    static func budgetLine(_ budget: BudgetStatus) -> String {
        var line = "served \(size(budget.servedBytes)) of \(budget.limit.formatted())"
        if case .bytes(let limit) = budget.limit, limit > 0 {
            line += String(format: " (%.0f%%)", 100 * Double(budget.servedBytes) / Double(limit))
        }
        line += ", archive \(size(budget.archiveBytes))"
        return line
    }
}
