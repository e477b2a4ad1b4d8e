import Foundation

/// The outcome of screening one adapter directory: a verdict, or the error that prevented one.
public struct ScanResult: Sendable {
    public var path: String
    public var verdict: Verdict?
    public var error: String?
    /// Wall time spent on this adapter (reading and screening), seconds.
    public var seconds: Double
}

/// Screens many PEFT adapter directories with one `Detector`, in parallel, without the daemon; with
/// behavioural probes (one per base model) and an adapter's labelled examples, by behaviour too
/// (`BehaviouralScreening`).
public struct AdapterScanner: Sendable {
    public let detector: Detector
    public let behaviour: BehaviouralScreening

    public init(detector: Detector, behaviour: BehaviouralScreening = BehaviouralScreening(probes: [])) {
        self.detector = detector
        self.behaviour = behaviour
    }

    /// An adapter directory and the labelled examples of its task, if any.
    public struct Item: Sendable {
        public var directory: URL
        public var examples: [TaskExample]?

        public init(directory: URL, examples: [TaskExample]? = nil) {
            self.directory = directory
            self.examples = examples
        }
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
        scan(directories.map { Item(directory: $0) }, jobs: jobs, progress: progress)
    }

    /// Screens each item, by behaviour too where it has examples and a probe reads its adapter; the
    /// verdict's reasons say when behaviour was not screened and why. Never throws.
    public func scan(_ items: [Item], jobs: Int, progress: (@Sendable (Int, Int) -> Void)? = nil) -> [ScanResult] {
        ConcurrentWork.map(items, jobs: jobs, progress: progress) { item in
            let start = Date()
            do {
                let adapter = try CorpusFeaturizer.loadAdapter(item.directory)
                let verdict = behaviour.judged(detector.verdict(for: adapter), adapter: adapter, examples: item.examples,
                                               taskName: item.directory.lastPathComponent)
                return ScanResult(path: item.directory.path, verdict: verdict, error: nil, seconds: Date().timeIntervalSince(start))
            } catch {
                return ScanResult(path: item.directory.path, verdict: nil, error: "\(error)", seconds: Date().timeIntervalSince(start))
            }
        }
    }
}
