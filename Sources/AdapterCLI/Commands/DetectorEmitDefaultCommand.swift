import AdapterCore
import AdapterTraining
import ArgumentParser
import Foundation

/// `adapterctl detector emit-default`: make model files adapterd's built-in default models.
public struct DetectorEmitDefaultCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "emit-default",
        abstract: "Write detector models as adapterd's built-in defaults (the model files it ships).",
        discussion: """
            Give the weights-only model (feature set extended or baseline) and optionally the model that \
            uses the base model's token embeddings (extended-tokens, alignment or extended-alignment). \
            They are written as default-detector-weights-only.json and default-detector-with-tokens.json \
            into --out: Sources/AdapterCore/Resources for the next build, or an installation's \
            share/adapterd directory.
            """)

    @Argument(help: "Model JSON files: the weights-only default, then optionally the base-model default.")
    public var models: [String]

    @Option(name: .long, help: "Directory to write the model files into.")
    public var out: String = "Sources/AdapterCore/Resources"

    public init() {}

    public func run() throws {
        guard (1...2).contains(models.count) else { throw ValidationError("give one or two model files") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--out \(out) is not a directory")
        }
        do {
            let loaded = try models.map { try DetectorModel.load(from: URL(fileURLWithPath: $0)) }
            let written = try DefaultDetectorModelFiles.write(
                weightsOnly: loaded[0], withTokens: loaded.count == 2 ? loaded[1] : nil,
                to: URL(fileURLWithPath: out, isDirectory: true))
            for file in written { Output.printText("wrote \(file.path)") }
        } catch let e as DetectorError {
            throw CLIFailure(e.message)
        } catch {
            throw CLIFailure("cannot write the model files into \(out): \(error.localizedDescription)")
        }
    }
}
