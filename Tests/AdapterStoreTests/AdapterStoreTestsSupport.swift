// Helpers shared by the AdapterStore tests: temporary state directories and sample inputs.
import AdapterCore
import Foundation
import Testing
@testable import AdapterStore

/// A fresh directory under the system temp directory, removed when the value is dropped.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("adapterstore-tests-\(UUID().uuidString.lowercased())", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The state directory used by most tests (created by the store itself).
    var state: URL { url.appendingPathComponent("state", isDirectory: true) }

    deinit { try? FileManager.default.removeItem(at: url) }
}

enum Sample {
    static func verdict(score: Double = 0.1, label: String = "clean") -> VerdictRecord {
        VerdictRecord(score: score, threshold: 0.5, label: label,
                      topFeatures: [.init(name: "sv_ratio_q", value: 1.5, contribution: 0.3)],
                      reason: label == "clean" ? nil : "signature looks poisoned")
    }

    /// A submission whose files are distinct for each `seed`.
    static func adapter(seed: Int, rank: Int = 8, weightsSize: Int = 4096) -> AdapterSubmission {
        let config = Data("{\"r\": \(rank), \"lora_alpha\": 16, \"seed\": \(seed)}".utf8)
        var generator = SeededGenerator(seed: UInt64(truncatingIfNeeded: seed))
        let weights = Data((0..<weightsSize).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 56) })
        return AdapterSubmission(
            configJSON: config, weights: weights, rank: rank, dtype: .f16, baseModel: "tiny-llama",
            profileHash: "profile-1", signature: (0..<20).map { Double($0) / 10 + Double(seed) },
            verdict: verdict())
    }

    static func examples(_ task: String, seed: Int = 0) -> Data {
        Data((0..<10).map { "{\"input\": \"\(task) example \($0) #\(seed)\"}\n" }.joined().utf8)
    }

    /// Installs `task` with sample files.
    @discardableResult
    static func install(_ store: AdapterStore, _ task: String, seed: Int, uid: UInt32 = 1000) throws -> InstalledTask {
        try store.installTask(name: task, examples: examples(task, seed: seed), adapter: adapter(seed: seed),
                              installedBy: uid)
    }

    /// A served adapter draft for the given members.
    static func served(_ members: [String], seed: Int, kind: ServedAdapterKind? = nil, size: Int = 2048) -> ServedAdapterDraft {
        let adapter = adapter(seed: 10_000 + seed, weightsSize: size)
        return ServedAdapterDraft(kind: kind ?? (members.count == 1 ? .own : .merged), memberTasks: members,
                                  configJSON: adapter.configJSON, weights: adapter.weights, rank: 8, scale: 2.0)
    }

    struct Plan: Codable, Equatable {
        var clusters: Int
        var note: String
    }
}

/// lstat through the store's own helper.
func fileStatus(_ path: String) throws -> FileStatus? { try FileSystem.status(path) }

/// Overwrites a read-only file in place (tests only: simulates corruption).
func overwrite(_ path: String, with data: Data) throws {
    _ = chmod(path, 0o600)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: 0)
    try handle.write(contentsOf: data)
    try handle.close()
}
