import Foundation

/// The outcome of screening one adapter directory: a verdict, or the error that prevented one.
public struct ScanResult: Sendable {
    public var path: String
    public var verdict: Verdict?
    public var error: String?
    /// Wall time spent on this adapter (reading and screening), seconds.
    public var seconds: Double
}

/// Screens many PEFT adapter directories with one `Detector`, in parallel, without the daemon.
public struct AdapterScanner: Sendable {
    public let detector: Detector

    public init(detector: Detector) {
        self.detector = detector
    }

    /// Adapter directories under `paths`: a path that holds `adapter_config.json` is one adapter,
    /// otherwise its tree is searched (hidden directories skipped). Results are sorted by path and
    /// de-duplicated. Throws when a path does not exist.
    public static func discover(_ paths: [String]) throws -> [URL] {
        let fm = FileManager.default
        var found = Set<String>()
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else {
                throw DetectorError(.invalidTrainingData, "\(p): no such file or directory")
            }
            let url = URL(fileURLWithPath: p).standardizedFileURL
            guard isDir.boolValue else {
                if url.lastPathComponent == "adapter_config.json" || url.lastPathComponent == "adapter_model.safetensors" {
                    found.insert(url.deletingLastPathComponent().path)
                    continue
                }
                throw DetectorError(.invalidTrainingData, "\(p) is not a directory (give an adapter directory or a tree of them)")
            }
            if fm.fileExists(atPath: url.appendingPathComponent("adapter_config.json").path) {
                found.insert(url.path)
                continue
            }
            guard let walker = fm.enumerator(at: url, includingPropertiesForKeys: [.isDirectoryKey],
                                             options: [.skipsHiddenFiles]) else {
                throw DetectorError(.invalidTrainingData, "\(p): cannot list the directory")
            }
            for case let item as URL in walker where item.lastPathComponent == "adapter_config.json" {
                found.insert(item.deletingLastPathComponent().standardizedFileURL.path)
            }
        }
        return found.sorted().map { URL(fileURLWithPath: $0) }
    }

    /// Screens each directory; never throws (a failure becomes that adapter's `error`).
    public func scan(_ directories: [URL], jobs: Int,
                     progress: (@Sendable (Int, Int) -> Void)? = nil) -> [ScanResult] {
        let detector = self.detector
        return ConcurrentWork.map(directories, jobs: jobs, progress: progress) { dir in
            let start = Date()
            do {
                let adapter = try CorpusFeaturizer.loadAdapter(dir)
                let v = detector.verdict(for: adapter)
                return ScanResult(path: dir.path, verdict: v, error: nil, seconds: Date().timeIntervalSince(start))
            } catch {
                return ScanResult(path: dir.path, verdict: nil, error: "\(error)", seconds: Date().timeIntervalSince(start))
            }
        }
    }
}
