import AdapterCore
import ArgumentParser
import Foundation

/// `adapterctl scan`: screen adapters offline, in parallel.
public struct ScanCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Screen PEFT LoRA adapters (directories or trees of them) for backdoors, without the daemon.",
        discussion: """
            Exit status: 0 when every adapter is benign, 1 when any is poisoned or out-of-distribution, \
            2 on usage or I/O errors (including an adapter that cannot be read). Without --model the \
            built-in model is used: the token-alignment model when --base-model is given, else the weights-only one.

            With --base-model and examples (--examples for every adapter, or --manifest naming each \
            adapter's examples), adapters are also screened by behaviour: candidate triggers read from the \
            weights are written into the examples and run through the base model with and without the \
            adapter; an adapter that moves them to one label (behavioural score ≥ --behaviour-threshold) is \
            poisoned, and the verdict names the trigger. Without either, every verdict says behaviour was \
            not screened.

            With --json, stdout has one JSON object per adapter and the summary goes to stderr.
            """)

    @Argument(help: "Adapter directories or trees containing them.")
    public var paths: [String] = []

    @Flag(name: .long, help: "One JSON object per line per adapter.")
    public var json = false

    @Option(name: .long, help: "Parallel jobs.")
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Detector model JSON (default: built-in).")
    public var model: String?

    @Option(name: .long, help: "Base model directory (its token embeddings enable the built-in alignment model; with examples, behavioural screening); repeat for several.")
    public var baseModel: [String] = []

    @Option(name: .long, help: "Labelled examples (JSONL) of the task, for every adapter listed.")
    public var examples: String?

    @Option(name: .long, help: "JSON lines {\"adapter\": DIR, \"examples\": FILE}: adapters to scan, each with its examples (relative paths: from the manifest's directory).")
    public var manifest: String?

    @Option(name: .long, help: "Behavioural score at or above which an adapter is poisoned.")
    public var behaviourThreshold: Double = BehaviouralScreening.defaultThreshold

    @OptionGroup var precision: RuntimePrecisionOption

    public init() {}

    public func run() throws {
        FittingKernels.ensure("scan")
        let code = ScanRun(command: self).execute()
        if code != 0 { throw ExitCode(code) }
    }
}

/// The body of `adapterctl scan`, returning its exit status. Result lines and the summary go to
/// `output` (stdout by default).
struct ScanRun {
    let command: ScanCommand
    var output: (String) -> Void = { Output.printText($0) }

    func fail(_ message: String) -> Int32 {
        printError("adapterctl scan: \(message)")
        return 2
    }

    func execute() -> Int32 {
        guard !command.paths.isEmpty || command.manifest != nil else {
            return fail("give at least one adapter directory or tree, or --manifest")
        }
        guard command.examples == nil || command.manifest == nil else { return fail("give --examples or --manifest, not both") }
        guard command.jobs >= 1 else { return fail("--jobs must be at least 1") }
        // Parallelism comes from the jobs; keep OpenBLAS from oversubscribing the cores.
        BLASThreads.set(1)
        let scanner: AdapterScanner
        let items: [AdapterScanner.Item]
        do {
            let withBehaviour = command.examples != nil || command.manifest != nil
            let probes = withBehaviour ? try command.baseModel.map { try BehaviouralProbe(modelDirectory: URL(fileURLWithPath: $0), precision: command.precision.runtimePrecision.resolved) } : []
            let tables = withBehaviour ? probes.map(\.table)
                : try command.baseModel.map { try TokenEmbeddingTable.load(directory: URL(fileURLWithPath: $0)) }
            let model = try command.model.map { try DetectorModel.load(from: URL(fileURLWithPath: $0)) }
                ?? DefaultDetectorModels.model(forBaseModel: !tables.isEmpty)
            let behaviour = BehaviouralScreening(probes: probes, threshold: command.behaviourThreshold,
                                                 unconfigured: "no --base-model given (weights only)")
            scanner = AdapterScanner(detector: try Detector(model: model, tokenTables: tables), behaviour: behaviour)
            items = try ScanItems.resolve(paths: command.paths, examples: command.examples, manifest: command.manifest)
        } catch {
            return fail("\(error)")
        }
        guard !items.isEmpty else { return fail("no adapter directories (with adapter_config.json) under \(command.paths.joined(separator: ", "))") }
        let detector = scanner.detector

        let start = Date()
        let bar = ProgressLine(label: "scanning")
        let printer = ScanPrinter(json: command.json, bar: bar, output: output)
        let results = scanner.scan(items, jobs: command.jobs) { done, total in
            bar?.update(done, total)
        }
        bar?.finish()
        for r in results { printer.print(r) }
        let elapsed = Date().timeIntervalSince(start)
        let counts = ScanSummary(results)
        let summary = counts.line(elapsed: elapsed, model: detector.model)
        if command.json {
            printError(summary)
        } else {
            output(summary)
        }
        if counts.errors > 0 { return 2 }
        return counts.flagged > 0 ? 1 : 0
    }
}

/// Counts of a scan's outcomes.
struct ScanSummary {
    var benign = 0, poisoned = 0, outOfDistribution = 0, errors = 0
    init(_ results: [ScanResult]) {
        for r in results {
            switch r.verdict?.decision {
            case .benign: benign += 1
            case .poisoned: poisoned += 1
            case .outOfDistribution: outOfDistribution += 1
            case nil: errors += 1
            }
        }
    }
    var flagged: Int { poisoned + outOfDistribution }
    var total: Int { benign + poisoned + outOfDistribution + errors }

    func line(elapsed: Double, model: DetectorModel) -> String {
        let rate = elapsed > 0 ? Double(total) / elapsed : 0
        return "scanned \(total) adapter(s) in \(String(format: "%.2f", elapsed)) s (\(String(format: "%.1f", rate))/s) with the \(model.featureSet) detector: \(benign) benign, \(poisoned) poisoned, \(outOfDistribution) out-of-distribution, \(errors) error(s)"
    }
}

/// Formats scan results as text lines or JSON lines.
struct ScanPrinter {
    let json: Bool
    let bar: ProgressLine?
    var output: (String) -> Void = { Output.printText($0) }

    /// A JSON number, or null for NaN and ±∞ (which JSON cannot hold).
    static func number(_ x: Double) -> Any { x.isFinite ? x : NSNull() }

    static func jsonObject(_ r: ScanResult) -> [String: Any] {
        var o: [String: Any] = ["path": r.path, "schema": Output.jsonSchemaVersion, "seconds": number(r.seconds)]
        if let v = r.verdict {
            o["verdict"] = v.decision.rawValue
            o["score"] = number(v.score)
            o["threshold"] = number(v.threshold)
            o["feature_set"] = v.featureSet
            o["top_features"] = v.topFeatures.map {
                ["name": $0.name, "value": number($0.value), "z": number($0.z), "contribution": number($0.contribution)]
                    as [String: Any]
            }
            if !v.reasons.isEmpty { o["reasons"] = v.reasons }
            o["screening"] = v.behaviour == nil ? "weights-only" : "weights+behaviour"
            if let b = v.behaviour {
                var behaviour: [String: Any] = ["score": number(b.score), "adapter_share": number(b.adapterShare),
                                                "base_share": number(b.baseShare), "moved_examples": b.movedExamples,
                                                "candidates": b.candidatesTried,
                                                "candidates_stopped": b.candidatesStopped,
                                                "candidates_unread": b.candidatesUnread]
                behaviour["threshold"] = v.behaviouralThreshold.map(number) ?? NSNull()
                behaviour["trigger"] = b.trigger ?? NSNull()
                behaviour["target_label"] = b.targetLabel ?? NSNull()
                o["behaviour"] = behaviour
            }
        } else {
            o["verdict"] = "error"
            o["score"] = NSNull()
            o["threshold"] = NSNull()
            o["error"] = r.error ?? "unknown error"
        }
        return o
    }

    static func jsonLine(_ r: ScanResult) -> String {
        let o = jsonObject(r)
        guard let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "{\"error\": \"could not encode the result\", \"path\": \"?\", \"schema\": \(Output.jsonSchemaVersion), \"verdict\": \"error\"}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func textLine(_ r: ScanResult) -> String {
        guard let v = r.verdict else { return "error                 \(r.path.terminalSafe): \((r.error ?? "unknown error").terminalSafe)" }
        let score = v.score.isFinite ? String(format: "%.3f", v.score) : "  -  "
        var line = DetectorEvaluation.pad(v.decision.rawValue, 20) + " \(score) (threshold \(String(format: "%.3f", v.threshold)))  \(r.path.terminalSafe)"
        if v.decision != .benign {
            let top = v.topFeatures.prefix(3).map { "\($0.name.terminalSafe) \(String(format: "%+.2f", $0.contribution))" }
            if !top.isEmpty { line += "\n    top features: " + top.joined(separator: ", ") }
            for reason in v.reasons { line += "\n    " + reason.terminalSafe }
        }
        return line
    }

    func print(_ r: ScanResult) {
        output(json ? TerminalSafeText.jsonText(Self.jsonLine(r)) : Self.textLine(r))
    }
}
