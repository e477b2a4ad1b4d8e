import AdapterCore
import AdapterProtocol
import ArgumentParser
import Foundation

/// `adapterctl inspect PATH`: what a PEFT LoRA directory holds and its 20-value spectral signature,
/// computed locally (no daemon needed).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a PEFT LoRA adapter's base model, rank, modules and spectral signature.",
        discussion: """
            PATH is a directory holding adapter_config.json and adapter_model.safetensors (or the \
            safetensors file itself). Nothing is sent to adapterd. Exit status: 0 on success, \
            2 when the adapter cannot be read.
            """)

    @Argument(help: "A PEFT adapter directory (or its adapter_model.safetensors).", completion: .directory)
    var path: String

    @Flag(help: "Print one JSON object instead of tables.")
    var json = false

    func run() throws {
        var url = URL(fileURLWithPath: path)
        if url.lastPathComponent == PEFTAdapterLoader.weightsFileName { url.deleteLastPathComponent() }
        let report: AdapterReport
        do {
            let adapter = try PEFTAdapterLoader.load(directory: url)
            report = AdapterReport(adapter: adapter, signature: try SignatureExtractor.signature(of: adapter))
        } catch {
            printError("adapterctl inspect: \(path): \(error)")
            throw ExitCode(2)
        }
        if json {
            print(TerminalSafeText.jsonText(try report.jsonString()))
        } else {
            Output.printText(report.text(path: path))
        }
    }
}

/// The facts `inspect` shows about one adapter, as JSON or as text tables.
struct AdapterReport: Encodable {
    struct ProjectionSummary: Encodable {
        let projection: String
        let modules: Int
        let layers: Int
        let ranks: [Int]
        let shapes: [String]
    }

    let baseModel: String?
    let architecture: String
    let peftType: String
    let rank: Int
    let loraAlpha: Double
    let useRSLoRA: Bool
    let scales: [Double]
    let dtype: String
    let tensorBytes: Int
    let layers: Int
    let projections: [ProjectionSummary]
    let otherModules: [String]
    let signature: [String: Double]
    let missingProjections: [String]
    /// Why screening would refuse the adapter before scoring it (an update too large), if it would.
    let warnings: [String]

    enum CodingKeys: String, CodingKey {
        case baseModel = "base_model", architecture, peftType = "peft_type", rank
        case loraAlpha = "lora_alpha", useRSLoRA = "use_rslora", scales, dtype
        case tensorBytes = "tensor_bytes", layers, projections, otherModules = "other_modules"
        case signature, missingProjections = "missing_projections", warnings
    }

    init(adapter: LoRAAdapter, signature: AdapterSignature) {
        baseModel = adapter.config.baseModelNameOrPath
        architecture = adapter.architecture.rawValue
        peftType = adapter.config.peftType
        rank = adapter.config.r
        loraAlpha = adapter.config.loraAlpha
        useRSLoRA = adapter.config.useRSLoRA
        scales = Array(Set(adapter.modules.map(\.scale))).sorted()
        dtype = adapter.storageDType.rawValue
        tensorBytes = adapter.tensorBytes
        layers = adapter.layerCount
        projections = Projection.allCases.map { p in
            let ms = adapter.modules(for: p)
            return ProjectionSummary(
                projection: p.rawValue.uppercased(), modules: ms.count,
                layers: Set(ms.compactMap(\.layer)).count,
                ranks: Array(Set(ms.map(\.rank))).sorted(),
                shapes: Array(Set(ms.map { "\($0.inFeatures)→\($0.outFeatures)" })).sorted())
        }
        otherModules = adapter.otherModules.map(\.name).sorted()
        self.signature = signature.features
        missingProjections = signature.missingProjections.map { $0.rawValue.uppercased() }
        let oversized = UpdateMagnitude.violations(in: adapter)
        warnings = oversized.isEmpty ? [] : [UpdateMagnitude.reason(oversized)]
    }

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(SchemaVersioned(value: self)), as: UTF8.self)
    }

    func text(path: String) -> String {
        var lines: [String] = []
        lines.append("adapter       \(path.terminalSafe)")
        lines.append("base model    \(baseModel?.terminalSafe ?? "(not given)")")
        lines.append("architecture  \(architecture)")
        let scaleText = scales.map { formatNumber($0) }.joined(separator: ", ")
        lines.append("rank / alpha  r=\(rank)  lora_alpha=\(formatNumber(loraAlpha))\(useRSLoRA ? "  rsLoRA" : "")  scale \(scaleText)")
        lines.append("storage       \(dtype), \(ByteSize.format(Int64(tensorBytes))) of tensors")
        lines.append("layers        \(layers)")
        for warning in warnings { lines.append("warning       \(warning)") }
        lines.append("")
        lines.append(TextTable(
            header: ["projection", "modules", "layers", "rank", "in→out"],
            rows: projections.map { [$0.projection, "\($0.modules)", "\($0.layers)",
                                     $0.ranks.map(String.init).joined(separator: ","),
                                     $0.shapes.joined(separator: ", ")] }).render())
        if !otherModules.isEmpty {
            lines.append("other modules (not screened): \(otherModules.count)")
            for name in otherModules.prefix(8) { lines.append("  \(name.terminalSafe)") }
            if otherModules.count > 8 { lines.append("  … and \(otherModules.count - 8) more") }
        }
        lines.append("")
        lines.append("spectral signature (mean over layers; docs/SIGNATURE.md)")
        let stats = SpectralStatistics.names
        lines.append(TextTable(
            header: ["proj"] + stats,
            rows: Projection.allCases.map { p in
                [p.rawValue.uppercased()] + stats.map { formatNumber(signature["\(p.rawValue).\($0)"] ?? 0) }
            }).render())
        if !missingProjections.isEmpty {
            lines.append("not adapted: \(missingProjections.joined(separator: ", ")) (their features are 0)")
        }
        return lines.joined(separator: "\n")
    }
}
