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
        while true {
            var best: (cluster: Int, choice: Int, ratio: Double, extra: Int)?
            let remaining = budget - total
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
            guard let step = best else { break }
            chosen[step.cluster] = step.choice
            total += step.extra
        }
        return chosen
    }
}
