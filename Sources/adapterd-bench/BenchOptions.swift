import AdapterCore
import AdapterDaemon
import ArgumentParser
import BLASKernels

/// The corpus and the base models whose tasks a corpus benchmark reads (quality, joint-quality,
/// route-accuracy).
struct CorpusOptions: ParsableArguments {
    @Option(help: "The corpus directory (manifest.json, adapters/, tasks/).")
    var corpus = "data/corpus"

    @Option(help: "Base models, comma-separated (manifest base_model values).")
    var bases = "minilm,llama-tiny"

    var baseList: [String] { bases.split(separator: ",").map(String.init) }
}

/// The external evaluator that scores held-out accuracy (quality, joint-quality).
struct TestEvaluatorOptions: ParsableArguments {
    @Option(help: "Evaluator argv for test.jsonl, split at spaces (no shell); placeholders {adapter_dir} {examples} {task} {task_version}.")
    var evaluator = "python3 tools/corpus/headeval.py {adapter_dir} {examples}"

    @Option(help: "Seconds before one evaluation is killed.")
    var timeout = 600.0

    /// `evaluator` split at spaces.
    var argv: [String] { evaluator.split(separator: " ").map(String.init) }
}

/// The OpenBLAS threads of a timing benchmark (embed, merge, signature).
struct BLASThreadOptions: ParsableArguments {
    @Option(help: "OpenBLAS threads for every path measured.")
    var threads = 1

    /// Sets them for the run, and says when OpenBLAS runs kernels narrower than the CPU's.
    func apply() {
        BLASThreads.set(threads)
        if let note = BLASKernelCheck.currentNote() { print("note: \(note)") }
    }
}

/// The compute threads a timing benchmark splits modules over (merge, signature, cluster): the
/// daemon's `planning-threads`; the in-run baselines are measured on the same count.
struct ComputeThreadOptions: ParsableArguments {
    @Option(help: "Compute threads the modules are split over (the daemon's planning-threads).")
    var computeThreads = 1

    func apply() { ComputeThreads.set(computeThreads) }
}

/// Comma-separated positive counts ("1,2", "16,32,64"): thread counts, adapter counts.
enum PositiveCounts {
    /// "16,32" → [16, 32]; `what` names a count in the error ("thread count").
    static func parse(_ list: String, what: String) throws -> [Int] {
        try list.split(separator: ",").map { text -> Int in
            guard let n = Int(text), n > 0 else { throw ValidationError("bad \(what) '\(text)'") }
            return n
        }
    }
}

/// Budgets given as fractions of storing every own adapter (quality, joint-quality, route-accuracy).
enum BudgetFractions {
    /// "0.25,0.125" → [0.25, 0.125]; each must be a positive number.
    static func parse(_ list: String) throws -> [Double] {
        try list.split(separator: ",").map { text -> Double in
            guard let f = Double(text), f > 0 else { throw ValidationError("bad budget fraction '\(text)'") }
            return f
        }
    }

    /// "1/4" for a unit fraction, else three significant digits.
    static func text(_ f: Double) -> String {
        let inverse = 1 / f
        return abs(inverse - inverse.rounded()) < 1e-9 ? "1/\(Int(inverse.rounded()))" : String(format: "%.3g", f)
    }
}

extension RuntimePrecision.Choice: ExpressibleByArgument {}
