import AdapterProtocol
import AdapterStore
import Foundation

/// `export`: the files of a served adapter of the current generation (by cluster id, or serving a
/// task). Read-only: the same files are readable through the paths `route` returns.
struct Exporter: Sendable {
    let store: AdapterStore
    let reads: ReadModel
    let maintenance: Maintenance
    let requestThread: WorkerThread

    /// The files of a served adapter of the current generation (by cluster id, or serving a task).
    /// Read-only: the same files are readable through the paths `route` returns.
    func export(_ params: ExportParams) async throws -> ExportResult {
        guard (params.cluster == nil) != (params.task == nil) else {
            throw ReadError(.invalidQuery, "export needs exactly one of \"cluster\" and \"task\"")
        }
        if let task = params.task, let damage = try reads.readSnapshot().unservable[task] {
            throw ReadError(.taskNotServed, damage)
        }
        let served = try servedAdapter(task: params.task, cluster: params.cluster ?? 0)
        let store = self.store
        let files: (config: Data, weights: Data)
        do {
            files = try await requestThread.run { (try store.read(served.configDigest), try store.read(served.weightsDigest)) }
        } catch let error as StoreError {
            let damaged = store.damagedDigests()
            if error.code == .digestMismatch || damaged.contains(served.configDigest) || damaged.contains(served.weightsDigest) {
                maintenance.noteDamageFound()
                throw ReadError(.filesUnreadable,
                                "cluster \(served.id)'s files are damaged on disk, so they are not served: \(error.message) "
                                    + "(see `adapterctl status`; install the task again, or re-cluster, to write them anew)")
            }
            throw ReadError(.filesUnreadable,
                            "cluster \(served.id)'s files are gone (generation \(served.generationID) was replaced meanwhile; ask again): \(error.message)")
        }
        let weights = try await requestThread.run { files.weights.base64EncodedString() }
        return ExportResult(
            cluster: served.id, generation: served.generationID, kind: served.kind.rawValue, tasks: served.memberTasks,
            sha256: served.weightsDigest.hex, scale: served.scale, config: String(decoding: files.config, as: UTF8.self),
            safetensors: weights)
    }

    /// The served adapter of the current generation serving `task`, or else the one with id `cluster`.
    private func servedAdapter(task: String?, cluster: Int64) throws -> StoredServedAdapter {
        if let task {
            guard let route = try store.route(task: task) else {
                if try store.task(named: task) != nil {
                    throw ReadError(.taskNotServed, "task '\(task)' is installed but not served by the current generation")
                }
                throw ReadModel.notFound(task)
            }
            return route.servedAdapter
        }
        guard let current = try store.currentGeneration() else {
            throw ReadError(.clusterNotServed, "nothing is served yet: no generation is current")
        }
        guard let found = current.servedAdapters.first(where: { $0.id == cluster }) else {
            let ids = current.servedAdapters.map { String($0.id) }.joined(separator: ", ")
            throw ReadError(.clusterNotServed,
                            "cluster \(cluster) is not part of the current generation \(current.id) (its clusters: \(ids))")
        }
        return found
    }
}
