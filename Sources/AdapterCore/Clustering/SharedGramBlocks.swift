import Synchronization

/// Gram blocks BᵢᵀBⱼ and AᵢAⱼᵀ of pairs of adapters kept across groups of tasks that stack the same
/// adapters in other lists: each placement of a burst of installs stacks the new task with a served
/// cluster whose members' blocks an earlier placement computed, so with these only the new task's
/// blocks are computed (`FactorGrams(adapters:shared:)`).
///
/// Adapters are told apart by identity: a copy of a `LoRAAdapter` is the same adapter, a second
/// decode of the same file another. The identity of every adapter whose blocks are kept is held, so
/// it cannot be reused by another adapter meanwhile; `keep(only:)` drops the blocks of adapters no
/// longer in use, `removeAll()` every block. Safe to use from several threads.
public final class SharedGramBlocks: Sendable {
    private struct Identities {
        var keys: [ObjectIdentifier: Int] = [:]
        /// The objects whose identities are the keys, held.
        var held: [Int: any AnyObject & Sendable] = [:]
        var next = 0
    }

    let store: FactorGrams.BlockStore
    private let identities = Mutex(Identities())

    /// Blocks are kept up to `byteLimit` bytes in all (a pair of rank-16 adapters of Llama-3.2-3B's
    /// q, k, v, o projections: 459 KiB); past it new blocks are computed and not kept.
    public init(byteLimit: Int = 256 << 20) {
        store = FactorGrams.BlockStore(byteLimit: byteLimit)
    }

    /// Bytes of blocks kept.
    public var keptBytes: Int { store.blocks.withLock { $0.bytes } }

    /// The key of `adapter`'s blocks, made the first time it is seen.
    func key(of adapter: LoRAAdapter) -> Int {
        let identity = adapter.identity
        return identities.withLock { identities in
            if let known = identities.keys[identity.id] { return known }
            let key = identities.next
            identities.next += 1
            identities.keys[identity.id] = key
            identities.held[key] = identity.object
            return key
        }
    }

    /// Drops the blocks of every adapter not among `adapters` (keys are never given out again).
    public func keep(only adapters: [LoRAAdapter]) {
        let live = Set(adapters.map(\.identity.id))
        let dropped = identities.withLock { identities -> Set<Int> in
            let gone = identities.keys.filter { !live.contains($0.key) }
            for (identity, key) in gone {
                identities.keys[identity] = nil
                identities.held[key] = nil
            }
            return Set(gone.values)
        }
        guard !dropped.isEmpty else { return }
        store.blocks.withLock { blocks in
            for key in blocks.columns.keys where dropped.contains(key.first) || dropped.contains(key.second) {
                let size = (blocks.columns[key]!.count + blocks.rows[key]!.count) * MemoryLayout<Double>.stride
                blocks.columns[key] = nil
                blocks.rows[key] = nil
                blocks.bytes -= size
            }
        }
    }

    /// Drops every block. (Keys are never given out again: a group made before still reads and keeps
    /// its adapters' blocks under its own keys.)
    public func removeAll() {
        identities.withLock { identities in
            identities.keys.removeAll()
            identities.held.removeAll()
        }
        store.blocks.withLock { $0 = FactorGrams.BlockStore.Blocks() }
    }
}
