/// Gives each served adapter its own rank under a byte budget: a multiple-choice knapsack solved by
/// greedy marginal allocation.
///
/// Every cluster has choices (a rank, or a singleton's own file), each with its bytes and its value
/// (the retained quality summed over the members). Every cluster starts at its cheapest choice; then,
/// repeatedly, the upgrade (to any choice of higher value that still fits) with the most value gained
/// per added byte is taken, until no upgrade fits. Allowing jumps of several ranks matters: a task
/// whose update spreads evenly over 4 directions gains little from each of ranks 2 and 3 and all the
/// rest at rank 4, which single steps would undervalue. Deterministic: ties go to the lower cluster
/// index, then the cheaper choice.
public enum RankAllocation {
    /// One way to serve a cluster.
    public struct Choice: Sendable, Hashable {
        /// Rank of the served adapter (a singleton's own rank when `usesOwnAdapter`).
        public let rank: Int
        /// Exact bytes of the served adapter.
        public let bytes: Int
        /// Σ of the members' retained quality when served this way.
        public let value: Double
        /// A singleton served by its own adapter file as installed.
        public let usesOwnAdapter: Bool

        public init(rank: Int, bytes: Int, value: Double, usesOwnAdapter: Bool = false) {
            self.rank = rank
            self.bytes = bytes
            self.value = value
            self.usesOwnAdapter = usesOwnAdapter
        }
    }

    /// The index of the chosen choice of each cluster; Σ bytes ≤ `budget`.
    /// - Throws: `budgetTooSmall` when even the cheapest choices exceed the budget; `invalidArgument`
    ///   when a cluster has no choice or a choice has negative bytes or a non-finite value.
    public static func allocate(choices: [[Choice]], budget: Int) throws -> [Int] {
        var chosen: [Int] = []
        var total = 0
        for (c, options) in choices.enumerated() {
            guard !options.isEmpty else { throw ClusteringError(.invalidArgument, "cluster \(c) has no way to be served") }
            guard options.allSatisfy({ $0.bytes >= 0 && $0.value.isFinite }) else {
                throw ClusteringError(.invalidArgument, "cluster \(c) has a choice with negative bytes or a non-finite quality")
            }
            let cheapest = options.indices.min { a, b in
                options[a].bytes < options[b].bytes
                    || (options[a].bytes == options[b].bytes && options[a].value > options[b].value)
            }!
            chosen.append(cheapest)
            let (sum, overflow) = total.addingReportingOverflow(options[cheapest].bytes)
            guard !overflow else { throw ClusteringError(.invalidArgument, "the adapters' sizes overflow") }
            total = sum
        }
        guard total <= budget else {
            throw ClusteringError(.budgetTooSmall,
                "\(choices.count) adapters need at least \(BudgetPlanner.format(bytes: total)), over the budget of "
                + "\(BudgetPlanner.format(bytes: budget))")
        }
        while let step = gainfulStep(choices: choices, chosen: chosen, remaining: budget - total)
                ?? losslessStep(choices: choices, chosen: chosen, remaining: budget - total) {
            chosen[step.cluster] = step.choice
            total += step.extra
        }
        return chosen
    }

    /// The upgrade that fits `remaining` with the most value gained per added byte; nil when none gains.
    static func gainfulStep(choices: [[Choice]], chosen: [Int], remaining: Int) -> (cluster: Int, choice: Int, extra: Int)? {
        var best: (cluster: Int, choice: Int, ratio: Double, extra: Int)?
        for (c, options) in choices.enumerated() {
            let current = options[chosen[c]]
            for (index, option) in options.enumerated() {
                let gain = option.value - current.value
                let extra = option.bytes - current.bytes
                guard gain > 1e-12, extra <= remaining else { continue }
                let ratio = extra <= 0 ? Double.infinity : gain / Double(extra)
                if let b = best {
                    let better = ratio > b.ratio * (1 + 1e-12)
                        || (ratio == b.ratio && ratio == .infinity && gain > 0 && extra < b.extra)
                    if !better { continue }
                }
                best = (c, index, ratio, extra)
            }
        }
        return best.map { ($0.cluster, $0.choice, $0.extra) }
    }

    /// The next rank of the cluster that keeps the smallest share of its largest rank, among upgrades
    /// that fit `remaining`, lose no value and add bytes; nil when there is none. (Value never falls and
    /// every step adds value or bytes, so the allocation ends.)
    static func losslessStep(choices: [[Choice]], chosen: [Int], remaining: Int) -> (cluster: Int, choice: Int, extra: Int)? {
        var best: (cluster: Int, choice: Int, extra: Int, kept: Double)?
        for (c, options) in choices.enumerated() {
            let current = options[chosen[c]]
            guard !current.usesOwnAdapter, let top = options.map(\.rank).max(), top > 0 else { continue }
            let next = options.indices.filter { i in
                let option = options[i]
                return !option.usesOwnAdapter && option.rank > current.rank && option.value >= current.value
                    && option.bytes > current.bytes && option.bytes - current.bytes <= remaining
            }.min { options[$0].rank < options[$1].rank || (options[$0].rank == options[$1].rank && options[$0].bytes < options[$1].bytes) }
            guard let index = next else { continue }
            let kept = Double(current.rank) / Double(top)
            if let b = best, kept >= b.kept { continue }
            best = (c, index, options[index].bytes - current.bytes, kept)
        }
        return best.map { ($0.cluster, $0.choice, $0.extra) }
    }
}
