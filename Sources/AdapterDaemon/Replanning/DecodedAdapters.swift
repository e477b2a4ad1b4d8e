import AdapterCore
import AdapterStore
import Synchronization

/// Stored adapters decoded once and kept while a plan of every task is due (installs placed their
/// task): each placing install reads the joined clusters' members and the served adapters again, and
/// the plan that follows reads every task; a read verifies the object's SHA-256 and parses it (the
/// factors stay in the file's dtype, `FactorMatrix`: about the file's own bytes). Kept by content digest, so an entry is what the store
/// held under that name when it was read (a later change of the file is found by the next read after
/// the entries are dropped, or by `verify`); `Replanner.releaseFreedMemory` drops them all once no plan
/// is due, so an idle daemon keeps none, and meanwhile those of neither an installed task nor the
/// served set in force (the served adapters each placement replaces). The Gram blocks placements form
/// from the kept adapters (`grams`) live and go with them.
final class DecodedAdapters: Sendable {
    private struct Key: Hashable {
        let config: ContentDigest
        let weights: ContentDigest
    }

    private let kept = Mutex<[Key: LoRAAdapter]>([:])
    /// The Gram blocks of the kept adapters that placements formed, for the next placement's joins.
    let grams = SharedGramBlocks()

    /// The adapter stored under these digests: kept, or read from `store`, decoded and kept.
    func adapter(config: ContentDigest, weights: ContentDigest, in store: AdapterStore) throws -> LoRAAdapter {
        let key = Key(config: config, weights: weights)
        if let known = kept.withLock({ $0[key] }) { return known }
        let adapter = try PEFTAdapterLoader.load(configJSON: try store.read(config), safetensors: try store.read(weights))
        return kept.withLock { kept in
            if let other = kept[key] { return other }   // another thread read it meanwhile
            kept[key] = adapter
            return adapter
        }
    }

    /// Keeps `adapter` as the one stored under these digests, without reading it: an install's
    /// candidate, decoded from the very bytes the store now holds, which the placements and the plan
    /// after the install would otherwise read, hash and decode again.
    func keep(_ adapter: LoRAAdapter, config: ContentDigest, weights: ContentDigest) {
        kept.withLock { $0[Key(config: config, weights: weights)] = adapter }
    }

    /// How many adapters are kept.
    var count: Int { kept.withLock { $0.count } }

    /// The weights digests of the adapters kept.
    var keptWeights: Set<ContentDigest> { kept.withLock { Set($0.keys.map(\.weights)) } }

    /// Drops every kept adapter and every Gram block.
    func removeAll() {
        kept.withLock { $0.removeAll() }
        grams.removeAll()
    }

    /// Drops the adapters whose weights are not among `live` (e.g. served adapters a placement
    /// replaced), and their Gram blocks.
    func keep(onlyWeights live: Set<ContentDigest>) {
        let remaining = kept.withLock { kept in
            kept = kept.filter { live.contains($0.key.weights) }
            return Array(kept.values)
        }
        grams.keep(only: remaining)
    }
}
