import AdapterCore
import ArgumentParser
import Foundation

/// What `adapterctl scan` screens: the adapter directories found under its paths, each with the
/// examples of `--examples`, or the adapters a `--manifest` lists with their own examples.
enum ScanItems {
    /// Largest manifest read.
    static let maximumManifestBytes = 16 * 1024 * 1024

    static func resolve(paths: [String], examples: String?, manifest: String?) throws -> [AdapterScanner.Item] {
        var items: [AdapterScanner.Item] = []
        if !paths.isEmpty {
            let shared = try examples.map { try ExamplesFile.load(contentsOf: URL(fileURLWithPath: $0)) }
            items += try AdapterScanner.discover(paths).map { AdapterScanner.Item(directory: $0, examples: shared) }
        }
        if let manifest { items += try manifestItems(URL(fileURLWithPath: manifest)) }
        return items
    }

    /// JSON lines `{"adapter": DIR, "examples": FILE}`; blank lines are skipped, relative paths are
    /// taken from the manifest's directory, and a line naming neither is an error with its number.
    static func manifestItems(_ url: URL) throws -> [AdapterScanner.Item] {
        let data = try RegularFile.read(url, maximumBytes: maximumManifestBytes)
        let base = url.deletingLastPathComponent()
        var items: [AdapterScanner.Item] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let adapter = object["adapter"] as? String, let examples = object["examples"] as? String else {
                throw ValidationError("\(url.path):\(index + 1): expected {\"adapter\": DIR, \"examples\": FILE}")
            }
            func resolved(_ path: String) -> URL {
                path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
            }
            let exampleList: [TaskExample]
            do {
                exampleList = try ExamplesFile.load(contentsOf: resolved(examples))
            } catch {
                throw ValidationError("\(url.path):\(index + 1): examples \(examples): \(error)")
            }
            items.append(AdapterScanner.Item(directory: resolved(adapter).standardizedFileURL, examples: exampleList))
        }
        guard !items.isEmpty else { throw ValidationError("\(url.path) lists no adapters") }
        return items
    }
}
