import AdapterCore
import Foundation

/// The labelled adapters of a corpus manifest (`data/corpus/manifest.json`): for each adapter its id,
/// directory, task, family, base model and whether it is poisoned. Other keys of the manifest are
/// ignored; the keys read here are required and type-checked.
public struct CorpusManifest: Sendable {
    /// One adapter of the corpus.
    public struct Entry: Sendable, Equatable {
        public var id: String
        /// Absolute directory of the PEFT adapter.
        public var directory: URL
        public var task: String
        public var family: String?
        public var baseModel: String
        public var poisoned: Bool
        public var poisonRate: Double?
        public var triggerKind: String?
        public var trigger: String?
    }

    public var url: URL
    public var entries: [Entry]
    /// Base-model directories the manifest names (key → absolute directory), when it gives a `path`.
    public var baseModelDirectories: [String: URL]

    /// Reads a manifest: an object with an `adapters` array (or a bare array) of objects with `id`,
    /// `task`, `poisoned` and `base_model`, optional `path` (relative to the manifest's directory,
    /// default `adapters/<id>`), `family`, `poison_rate`, `trigger_kind`, `trigger`.
    public static func load(_ url: URL) throws -> CorpusManifest {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw DetectorError(.invalidTrainingData, "cannot read manifest \(url.path): \(error.localizedDescription)")
        }
        guard let root = try? JSONSerialization.jsonObject(with: data) else {
            throw DetectorError(.invalidTrainingData, "manifest \(url.path) is not valid JSON")
        }
        let list: [Any]
        var bases: [String: URL] = [:]
        let dir = url.deletingLastPathComponent()
        if let object = root as? [String: Any] {
            guard let a = object["adapters"] as? [Any] else {
                throw DetectorError(.invalidTrainingData, "manifest \(url.path) has no 'adapters' array")
            }
            list = a
            if let b = object["base_models"] as? [String: Any] {
                for (key, value) in b {
                    if let info = value as? [String: Any], let path = info["path"] as? String {
                        bases[key] = dir.appendingPathComponent(path).standardizedFileURL
                    }
                }
            }
        } else if let a = root as? [Any] {
            list = a
        } else {
            throw DetectorError(.invalidTrainingData, "manifest \(url.path) is neither an object nor an array")
        }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (i, item) in list.enumerated() {
            guard let a = item as? [String: Any] else {
                throw DetectorError(.invalidTrainingData, "manifest adapter #\(i) is not an object")
            }
            func required<T>(_ key: String, _ type: T.Type) throws -> T {
                guard let v = a[key] as? T else {
                    throw DetectorError(.invalidTrainingData,
                        "manifest adapter #\(i)\((a["id"] as? String).map { " (\($0))" } ?? ""): '\(key)' is missing or not a \(T.self)")
                }
                return v
            }
            let id = try required("id", String.self)
            guard !seen.contains(id) else {
                throw DetectorError(.invalidTrainingData, "manifest lists adapter '\(id)' twice")
            }
            seen.insert(id)
            let poisonedValue = try required("poisoned", Bool.self)
            let path = (a["path"] as? String) ?? "adapters/\(id)"
            entries.append(Entry(
                id: id, directory: dir.appendingPathComponent(path).standardizedFileURL,
                task: try required("task", String.self), family: a["family"] as? String,
                baseModel: (a["base_model"] as? String) ?? (a["base_model_name_or_path"] as? String) ?? "unknown",
                poisoned: poisonedValue, poisonRate: (a["poison_rate"] as? NSNumber)?.doubleValue,
                triggerKind: a["trigger_kind"] as? String, trigger: a["trigger"] as? String))
        }
        guard !entries.isEmpty else { throw DetectorError(.invalidTrainingData, "manifest \(url.path) lists no adapters") }
        return CorpusManifest(url: url, entries: entries, baseModelDirectories: bases)
    }
}
