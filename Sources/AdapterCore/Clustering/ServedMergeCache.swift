import Synchronization

/// The served adapters one plan has merged, by member set, rank and merger, so that a clustering
/// materialised twice (the joint allocation's part of a group, then the same clustering when the group
/// is planned within its bytes) is merged once. Holds at most `byteLimit` bytes of factors (in memory,
/// 8 bytes an element); past it nothing more is kept. Shared by copies of a `CurveBook`.
final class ServedMergeCache: Sendable {
    private struct Store {
        var adapters: [String: LoRAAdapter] = [:]
        var bytes = 0
    }

    let byteLimit: Int
    private let store = Mutex(Store())

    /// What a plan keeps unless its served set needs more (`CurveBook(servedSetOf:storedAs:)`).
    static let defaultByteLimit = 256 << 20

    init(byteLimit: Int = defaultByteLimit) { self.byteLimit = byteLimit }

    /// The adapter kept for `members` (any order) at `rank` by `merger`, else `make()`'s, kept if it fits.
    func adapter(members: [Int], rank: Int, merger: String, make: () throws -> LoRAAdapter) rethrows -> LoRAAdapter {
        let key = "\(merger)|\(members.sorted().map(String.init).joined(separator: ","))@\(rank)"
        if let known = store.withLock({ $0.adapters[key] }) { return known }
        let made = try make()
        let size = made.modules.reduce(0) { $0 + $1.factorA.memoryBytes + $1.factorB.memoryBytes }
        store.withLock { store in
            guard store.adapters[key] == nil, store.bytes + size <= byteLimit else { return }
            store.adapters[key] = made
            store.bytes += size
        }
        return made
    }
}
