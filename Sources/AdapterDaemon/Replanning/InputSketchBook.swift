import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Synchronization

/// The tasks' input sketches (`TaskInputSketch`: what a task's examples feed the base model's
/// linear maps) for the data-aware evaluator. A sketch is made once per task version and base
/// model — at install, during the install's plan — kept in the catalog (`input_sketches`) and in
/// memory, and read back rather than remade for later plans. A task installed before the base
/// model was configured gets its sketch at the first plan that needs it.
///
/// Sketches are derived data: one that cannot be read back is made again; one that cannot be made
/// (an adapter of another base model, unreadable examples) is an `evaluatorFailed` error with the
/// reason, which makes the plan fall back to weight-space scores and say why.
final class InputSketchBook: Sendable {
    /// A task's sketch depends on its examples, its adapter's modules and the model, not on its
    /// version number alone (a removed task installed again starts at version 1 once more).
    private struct Key: Hashable {
        let task: String
        let adapterSHA256: String
        let examplesFile: String?
        let model: String
    }

    private struct State {
        var sketches: [Key: Result<TaskInputSketch, ClusteringError>] = [:]
        /// Sketches made but not yet in the catalog (the install's own task until it is stored).
        var unsaved: Set<Key> = []
        /// Base models whose stored sketches were read.
        var loadedModels: Set<String> = []
        /// Forward passes made (sketches made rather than read back), since start.
        var made = 0
    }

    private let store: AdapterStore
    private let logger: Logger
    private let state = Mutex(State())

    init(store: AdapterStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// The sketch of a planner input (its stored examples, its own `adapter`) for `model`: from
    /// memory, else from the catalog, else made now and stored. Serialised: one forward pass at a
    /// time. Heavy when made: call it on the planning thread.
    func sketch(of input: ServedSetPlanner.Input, adapter: LoRAAdapter,
                model: LoadedBaseModel) throws(ClusteringError) -> TaskInputSketch {
        let key = Self.key(input, model)
        let result = state.withLock { state -> Result<TaskInputSketch, ClusteringError> in
            loadStored(model: model.identity, covering: model.sketcher.model.adaptableLinearNames, into: &state)
            if let known = state.sketches[key] {
                if state.unsaved.contains(key), case .success(let sketch) = known, save(sketch, input, model: model.identity) {
                    state.unsaved.remove(key)
                }
                return known
            }
            let made = make(adapter: adapter, input: input, model: model)
            state.made += 1
            // One sketch per task and model in memory: a new version's replaces the old one's.
            state.sketches = state.sketches.filter { $0.key.task != key.task || $0.key.model != key.model }
            state.unsaved = state.unsaved.filter { $0.task != key.task || $0.model != key.model }
            state.sketches[key] = made
            if case .success(let sketch) = made, !save(sketch, input, model: model.identity) { state.unsaved.insert(key) }
            return made
        }
        return try result.get()
    }

    /// Stores the sketch made for an install's task during its plan, now that the task is in the
    /// catalog (best effort: a sketch not stored is made again after a restart).
    func persist(_ input: ServedSetPlanner.Input, model: LoadedBaseModel) {
        let key = Self.key(input, model)
        state.withLock { state in
            guard state.unsaved.contains(key), case .success(let sketch)? = state.sketches[key] else { return }
            if save(sketch, input, model: model.identity) { state.unsaved.remove(key) }
        }
    }

    private static func key(_ input: ServedSetPlanner.Input, _ model: LoadedBaseModel) -> Key {
        Key(task: input.name, adapterSHA256: input.ownSHA256, examplesFile: input.examplesFile, model: model.identity)
    }

    /// Sketches made by a forward pass since start (not read back from the catalog).
    var madeCount: Int { state.withLock { $0.made } }

    /// `covering`: the model's adaptable linear maps; a stored sketch that records fewer (made before
    /// sketches recorded the maps a task does not adapt) is not read, so it is made again when needed.
    private func loadStored(model: String, covering maps: [String], into state: inout State) {
        guard !state.loadedModels.contains(model) else { return }
        state.loadedModels.insert(model)
        let tasks: [String: InstalledTask]
        let stored: [String: Data]
        do {
            tasks = Dictionary(try store.tasks().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            stored = try store.inputSketches(model: model)
        } catch {
            logger.warning("cannot read the stored input sketches; they are made again as needed: \(error)")
            return
        }
        let decoder = JSONDecoder()
        let every = Set(maps)
        for (task, data) in stored {
            guard let installed = tasks[task] else { continue }
            let key = Key(task: task, adapterSHA256: installed.adapter.weightsDigest.hex,
                          examplesFile: store.url(for: installed.examplesDigest).path, model: model)
            do {
                let sketch = try decoder.decode(TaskInputSketch.self, from: data)
                guard Set(sketch.modules).isSuperset(of: every) else { continue }
                state.sketches[key] = .success(sketch)
            } catch {
                logger.warning("the stored input sketch of \(task) cannot be read; it is made again: \(error)")
            }
        }
    }

    private func make(adapter: LoRAAdapter, input: ServedSetPlanner.Input,
                      model: LoadedBaseModel) -> Result<TaskInputSketch, ClusteringError> {
        let task = input.name
        do {
            let examples = try input.examples()
            let started = Date()
            let sketch = try model.sketcher.sketch(examples, options: .forTask(adapter))
            let seconds = String(format: "%.2f", Date().timeIntervalSince(started))
            logger.info("input sketch of \(task): \(examples.count) examples, \(sketch.tokens) tokens, \(ByteSize.format(Int64(sketch.byteSize))) in \(seconds) s")
            return .success(sketch)
        } catch {
            let reason = "task '\(task)' has no input sketch for base model \(model.directory): \(error)"
            logger.warning("\(reason)")
            return .failure(ClusteringError(.evaluatorFailed, reason))
        }
    }

    private func save(_ sketch: TaskInputSketch, _ input: ServedSetPlanner.Input, model: String) -> Bool {
        do {
            let data = try JSONEncoder().encode(sketch)
            return try store.saveInputSketch(data, task: input.name, version: input.version, model: model)
        } catch {
            logger.debug("input sketch of \(input.name) not stored (made again after a restart): \(error)")
            return false
        }
    }
}
