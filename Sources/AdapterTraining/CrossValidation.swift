import AdapterCore

/// One train/test split of example indices.
public struct CrossValidationFold: Sendable, Equatable {
    public var train: [Int]
    public var test: [Int]
    /// A name for reports: "fold 3" or the held-out group (task).
    public var name: String

    public init(train: [Int], test: [Int], name: String) {
        self.train = train
        self.test = test
        self.name = name
    }
}

/// Splitting schemes for cross-validation. Splits are deterministic for a given seed.
public enum CrossValidation {
    /// Stratified k-fold: each class is shuffled (seeded) and dealt round-robin over the folds, so every
    /// fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ examples of class c. Folds are disjoint and cover all examples.
    /// `k` is clamped to [2, n].
    public static func stratifiedKFold(labels: [Bool], k: Int, seed: UInt64 = 0x5EED) -> [CrossValidationFold] {
        let n = labels.count
        guard n >= 2 else { return [] }
        let folds = min(max(k, 2), n)
        var rng = SeededGenerator(seed: seed)
        var assignment = [Int](repeating: 0, count: n)
        var next = 0
        for cls in [true, false] {
            var members = (0..<n).filter { labels[$0] == cls }
            members.shuffle(using: &rng)
            for m in members {
                assignment[m] = next % folds
                next += 1
            }
        }
        return (0..<folds).map { f in
            CrossValidationFold(train: (0..<n).filter { assignment[$0] != f },
                                test: (0..<n).filter { assignment[$0] == f },
                                name: "fold \(f + 1)")
        }
    }

    /// Leave-one-group-out: one fold per distinct group (e.g. task), testing on that group's examples
    /// and training on all others. Folds come in order of first appearance of the group.
    public static func leaveOneGroupOut(groups: [String]) -> [CrossValidationFold] {
        var order: [String] = []
        var seen = Set<String>()
        for g in groups where !seen.contains(g) {
            seen.insert(g)
            order.append(g)
        }
        guard order.count >= 2 else { return [] }
        return order.map { g in
            CrossValidationFold(train: groups.indices.filter { groups[$0] != g },
                                test: groups.indices.filter { groups[$0] == g },
                                name: g)
        }
    }

    /// Leave-one-trigger-kind-out: one fold per trigger kind of the positives, testing on the positives
    /// of that kind and on a share of the negatives, training on everything else. Negatives have no
    /// kind; they are shuffled (seeded) and dealt round-robin over the folds, so each is tested exactly
    /// once and never trains the fold that tests it. Positives without a kind are always training
    /// data. Folds come in sorted kind order; fewer than two kinds give no folds.
    public static func leaveOneKindOut(labels: [Bool], kinds: [String?], seed: UInt64 = 0x5EED) -> [CrossValidationFold] {
        precondition(labels.count == kinds.count, "one kind per label")
        let order = Array(Set(labels.indices.compactMap { labels[$0] ? kinds[$0] : nil })).sorted()
        guard order.count >= 2 else { return [] }
        var negatives = labels.indices.filter { !labels[$0] }
        var rng = SeededGenerator(seed: seed)
        negatives.shuffle(using: &rng)
        var negativeFold = [Int: Int]()
        for (i, n) in negatives.enumerated() { negativeFold[n] = i % order.count }
        return order.enumerated().map { f, kind in
            let tested = { (i: Int) in labels[i] ? kinds[i] == kind : negativeFold[i] == f }
            return CrossValidationFold(train: labels.indices.filter { !tested($0) },
                                       test: labels.indices.filter(tested), name: kind)
        }
    }
}
