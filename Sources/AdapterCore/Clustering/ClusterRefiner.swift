/// D2C-style refinement of a clustering by how well each cluster's merged adapter serves each task.
///
/// 1. Assign: k-medoids on the cosine distance of the tasks' updates (or a given start).
/// 2. Merge each cluster (`ClusterMerging`, members weighted by `MergeWeighting`), at the merged rank.
/// 3. Score every task against its own cluster and the c − 1 other clusters most similar to it by
///    weights (mean cosine to their members), so a round costs about N·c evaluations, not N·K.
/// 4. Move each task to the candidate that scores best (by more than `minimumGain` of its own
///    score), best gains first, never emptying a cluster.
/// 5. Repeat until no task moves, an assignment repeats, `maxRounds`, or every task already has the
///    evaluator's `maximumScore` (when it has one), where no move could help.
///
/// Every assignment visited is scored with fresh merges; the best mean quality wins, so the result
/// is never worse than the starting assignment under the evaluator used. The result is a pure
/// function of the inputs (seeded, no I/O besides what the evaluator does), so a dry run is a call.
public struct ClusterRefiner: Sendable {
    /// Knobs of the refinement.
    public struct Options: Sendable, Hashable {
        public var maxRounds: Int
        /// c: clusters scored per task and round, its current one included.
        public var candidateClusters: Int
        public var weighting: MergeWeighting
        public var seed: UInt64
        /// k-medoids restarts.
        public var restarts: Int
        /// A move must raise the task's score by more than this fraction of its own-adapter score.
        public var minimumGain: Double
        /// Evaluations run concurrently by an evaluator that waits (an external command); a computed one
        /// (`ComputedEvaluator`) shares the compute threads instead.
        public var parallelism: Int
        /// What a task is scored against when another cluster is its candidate.
        public var candidateMerge: CandidateMerge

        public init(maxRounds: Int = 8, candidateClusters: Int = 3, weighting: MergeWeighting = .uniform,
                    seed: UInt64 = 0, restarts: Int = 4, minimumGain: Double = 1e-6, parallelism: Int = 1,
                    candidateMerge: CandidateMerge = .withoutTask) {
            self.candidateMerge = candidateMerge
            self.maxRounds = maxRounds
            self.candidateClusters = candidateClusters
            self.weighting = weighting
            self.seed = seed
            self.restarts = restarts
            self.minimumGain = minimumGain
            self.parallelism = parallelism
        }
    }

    /// What a task is scored against when it considers moving to another cluster.
    public enum CandidateMerge: String, Sendable, Hashable, CaseIterable {
        /// The other cluster's current merge, which does not contain the task: K merges per round,
        /// biased towards staying (the task's own cluster contains it).
        case withoutTask
        /// A merge of the other cluster with the task added (as D2C re-merges): the task is compared on
        /// equal terms with its current cluster, which also contains it, at the price of up to N·(c − 1)
        /// extra merges per round (memoised by member set).
        case withTask
    }

    /// Reports progress: a fraction in [0, 1] and a line for the user.
    public typealias Progress = @Sendable (_ fraction: Double, _ message: String) -> Void

    /// The refined clustering.
    public struct Result: Sendable {
        /// Cluster index (0..<K) of each task, in the order of the tasks given.
        public let assignment: [Int]
        /// Member task indices of each cluster.
        public let clusters: [[Int]]
        /// The adapter serving each cluster: the merge, or a singleton's own adapter.
        public let adapters: [LoRAAdapter]
        /// Per task: score(serving adapter) / score(own adapter).
        public let quality: [Double]
        /// Per task: score of its own adapter.
        public let ownScores: [Double]
        /// Mean quality of the assignment scored in each round (index 0: the starting assignment).
        public let roundMeanQuality: [Double]
        /// Reassignment rounds carried out.
        public let rounds: Int
        /// Calls made to the evaluator.
        public let evaluations: Int

        public var meanQuality: Double { quality.isEmpty ? 1 : quality.reduce(0, +) / Double(quality.count) }
        public var worstQuality: Double { quality.min() ?? 1 }
    }

    /// Every member's score against the merge of `members` with `weights` at `rank`, computed without
    /// forming the merge (e.g. `RankQualityCurve` from `FactorGrams`): what `evaluator` would give the
    /// merge `merger` makes.
    public typealias MergeScores = @Sendable (_ members: [Int], _ weights: [Double], _ rank: Int) throws -> [Double]

    /// An upper bound on `task`'s score against the merge of `members` (sorted, the task among them)
    /// with `weights` at `rank`, cheaper than that merge, given `others` (the members but the task,
    /// already scored as a cluster) and their own weights; nil when none is known.
    public typealias ScoreBound = @Sendable (_ task: Int, _ members: [Int], _ weights: [Double], _ rank: Int,
                                             _ others: [Int], _ otherWeights: [Double]) throws -> Double?

    public let evaluator: any Evaluator
    public let merger: any ClusterMerging
    let mergeScores: MergeScores?
    let scoreBound: ScoreBound?

    /// - Parameters:
    ///   - evaluator: scores candidates; the weight-space evaluator by default.
    ///   - merger: merges clusters; the factored truncated-SVD merge by default.
    ///   - mergeScores: scores of merged member sets without merging them; it must agree with
    ///     `evaluator` on `merger`'s merges. With it only the result's clusters are merged.
    ///   - scoreBound: with `mergeScores`, a join (`CandidateMerge.withTask`) whose bound cannot make
    ///     the task move is not scored: the moves, and so the result, are those of scoring it.
    public init(evaluator: any Evaluator = WeightSpaceEvaluator(), merger: any ClusterMerging = SVDClusterMerger(),
                mergeScores: MergeScores? = nil, scoreBound: ScoreBound? = nil) {
        self.evaluator = evaluator
        self.merger = merger
        self.scoreBound = scoreBound
        self.mergeScores = mergeScores
    }

    /// Clusters `tasks` into `clusterCount` clusters with merged adapters of rank `mergedRank`.
    /// - Parameters:
    ///   - similarity: the tasks' similarity, if already computed (names must match the tasks).
    ///   - initialAssignment: a starting assignment instead of k-medoids (every cluster non-empty).
    ///   - mergingResult: false leaves the result's `adapters` empty, for a caller that merges the
    ///     clusters itself.
    public func refine(
        tasks: [TaskProfile], clusterCount k: Int, mergedRank: Int, options: Options = Options(),
        similarity: TaskSimilarity? = nil, initialAssignment: [Int]? = nil, mergingResult: Bool = true,
        progress: Progress? = nil
    ) async throws -> Result {
        let n = tasks.count
        guard n > 0 else { throw ClusteringError(.invalidArgument, "there are no tasks to cluster") }
        guard k >= 1 && k <= n else {
            throw ClusteringError(.invalidArgument, "cannot make \(k) clusters of \(n) tasks")
        }
        guard mergedRank >= 1 else { throw ClusteringError(.invalidArgument, "the merged rank must be ≥ 1") }
        let sim = try TaskSimilarity.of(tasks, given: similarity, progress: progress)
        var assignment = try Self.startingAssignment(
            initialAssignment, n: n, k: k, similarity: sim, options: options, progress: progress)

        var state = State(tasks: tasks, similarity: sim, mergedRank: mergedRank, options: options,
                          evaluator: evaluator, merger: merger, mergeScores: mergeScores,
                          scoreBound: mergeScores == nil ? nil : scoreBound)
        progress?(0.05, "scoring each task's own adapter with \(evaluator.name)")
        try await state.scoreOwnAdapters()

        var history: [Double] = []
        var best: (assignment: [Int], quality: [Double], mean: Double)?
        var seen: Set<[Int]> = [assignment]
        var rounds = 0
        let maxRounds = max(0, options.maxRounds)
        // A move must gain more than this (per task: `minimumGain` of its own score).
        let minimumGains = state.ownScores.map { options.minimumGain * abs($0) }
        for round in 0...maxRounds {
            let clusters = Self.members(of: assignment, k: k)
            // Quality of the current assignment.
            let current = try await Self.scores(of: assignment, clusters: clusters, state: &state)
            let quality = (0..<n).map { current[$0] / state.ownScores[$0] }
            let mean = quality.reduce(0, +) / Double(n)
            history.append(mean)
            if best == nil || mean > best!.mean + 1e-12 { best = (assignment, quality, mean) }
            let fractionDone = 0.05 + 0.95 * Double(round + 1) / Double(maxRounds + 1)
            if let reason = stopReason(round: round, maxRounds: maxRounds, current: current, minimumGains: minimumGains) {
                progress?(fractionDone, "round \(round): mean quality \(Self.format(mean)); \(reason)")
                break
            }
            let candidates = try await Self.scoreCandidates(
                assignment: assignment, clusters: clusters, state: &state, options: options,
                moveThresholds: zip(current, minimumGains).map { $0 + $1 })
            let next = Self.movingBestGainsFirst(
                assignment, sizes: clusters.map(\.count),
                moves: candidates.improvingMoves(assignment: assignment, current: current, minimumGains: minimumGains))
            let moved = zip(next, assignment).filter { $0 != $1 }.count
            progress?(fractionDone, "round \(round + 1): mean quality \(Self.format(mean)), "
                      + "\(candidates.requestCount) candidate scores, \(moved) tasks moved")
            if moved == 0 { break }
            rounds += 1
            assignment = next
            // A cycle: the assignment was scored before and is accounted for in `best`.
            if !seen.insert(next).inserted { break }
        }

        guard let chosen = best else { throw ClusteringError(.invalidArgument, "no assignment was scored") }
        let result = try Self.result(chosen.assignment, quality: chosen.quality, k: k, state: &state,
                                     history: history, rounds: rounds, merging: mergingResult)
        progress?(1, "done: \(k) clusters, mean quality \(Self.format(chosen.mean)) by \(evaluator.name)")
        return result
    }

    /// The result for the chosen assignment, its clusters' adapters merged (again, if dropped) when
    /// `merging`.
    private static func result(_ assignment: [Int], quality: [Double], k: Int, state: inout State,
                               history: [Double], rounds: Int, merging: Bool) throws -> Result {
        let clusters = members(of: assignment, k: k)
        let adapters = merging ? try clusters.map { try state.merge($0) } : []
        return Result(assignment: assignment, clusters: clusters, adapters: adapters, quality: quality,
                      ownScores: state.ownScores, roundMeanQuality: history, rounds: rounds,
                      evaluations: state.evaluations)
    }

    /// The given start (checked: n entries in 0..<k, no cluster empty), else k-medoids'.
    private static func startingAssignment(
        _ start: [Int]?, n: Int, k: Int, similarity: TaskSimilarity, options: Options, progress: Progress?
    ) throws -> [Int] {
        if let start {
            guard start.count == n, start.allSatisfy({ $0 >= 0 && $0 < k }), Set(start).count == k else {
                throw ClusteringError(.invalidArgument,
                    "the starting assignment must give each of the \(n) tasks a cluster in 0..<\(k), none empty")
            }
            return start
        }
        progress?(0.02, "k-medoids: \(k) clusters of \(n) tasks")
        return try KMedoids.cluster(distances: similarity.distanceMatrix, count: n, k: k,
                                    seed: options.seed, restarts: options.restarts).assignment
    }

    /// Each task's score against its own cluster's merge.
    private static func scores(of assignment: [Int], clusters: [[Int]], state: inout State) async throws -> [Double] {
        let keys = clusters.map(State.key)
        for members in clusters { try state.ensureMerged(members) }
        return try await state.scores(requests: assignment.indices.map { ($0, keys[assignment[$0]]) })
    }

    /// Why the round's assignment is the last one scored (nil: look for moves). No candidate can beat
    /// a score already at the evaluator's maximum by more than the minimum gain, so no task would
    /// move: scoring the candidates is skipped (for ~50 near-identical tasks in 3 clusters that was 288
    /// merges of 17 members, most of a 2-minute re-cluster).
    private func stopReason(round: Int, maxRounds: Int, current: [Double], minimumGains: [Double]) -> String? {
        if round == maxRounds { return "stopped after \(maxRounds) rounds" }
        if let top = evaluator.maximumScore, current.indices.allSatisfy({ top - current[$0] <= minimumGains[$0] }) {
            return "every task at the maximum score of \(evaluator.name), nothing to refine"
        }
        return nil
    }

    /// The other clusters each task was scored against in a round, and the scores, task by task.
    private struct CandidateScores {
        /// Per task: the candidate clusters, most similar first.
        var clusters: [[Int]] = []
        /// The scores of every task's candidates, in the order of `clusters` flattened.
        var scores: [Double] = []
        var requestCount = 0

        /// Per task whose best candidate beats its current score by more than its minimum gain: the move.
        func improvingMoves(assignment: [Int], current: [Double],
                            minimumGains: [Double]) -> [(task: Int, to: Int, gain: Double)] {
            var moves: [(task: Int, to: Int, gain: Double)] = []
            var cursor = 0
            for i in assignment.indices {
                var bestCluster = assignment[i]
                var bestScore = current[i]
                for c in clusters[i] {
                    let s = scores[cursor]
                    cursor += 1
                    if s > bestScore { bestScore = s; bestCluster = c }
                }
                let gain = bestScore - current[i]
                if bestCluster != assignment[i] && gain > minimumGains[i] {
                    moves.append((i, bestCluster, gain))
                }
            }
            return moves
        }
    }

    /// Scores every task against its c − 1 most similar other clusters. Scored a few tasks at a time,
    /// their merges dropped once scored (the scores are cached by member set): holding every task's
    /// candidate merges at once took hundreds of MiB for ~50 tasks. A join whose score bound is at most
    /// the task's `moveThresholds` entry (its score plus the minimum gain) is left unscored (−∞): it could
    /// not be the task's move, nor stop a better candidate from being it.
    private static func scoreCandidates(assignment: [Int], clusters: [[Int]], state: inout State,
                                        options: Options, moveThresholds: [Double]) async throws -> CandidateScores {
        let n = assignment.count
        let keys = clusters.map(State.key)
        var result = CandidateScores()
        let chunk = max(8, options.parallelism)
        for start in stride(from: 0, to: n, by: chunk) {
            var requests: [(Int, String)] = []
            for i in start..<min(n, start + chunk) {
                let others = rankedClusters(for: i, clusters: clusters, similarity: state.similarity)
                    .filter { $0 != assignment[i] }
                let chosen = Array(others.prefix(max(0, options.candidateClusters - 1)))
                result.clusters.append(chosen)
                for c in chosen {
                    switch options.candidateMerge {
                    case .withoutTask:
                        requests.append((i, keys[c]))
                    case .withTask:
                        let joined = clusters[c] + [i]
                        let key = State.key(joined)
                        if !state.hasScore(task: i, key: key),
                           try !state.cannotMove(task: i, to: clusters[c], threshold: moveThresholds[i]) {
                            try state.ensureMerged(joined)
                        }
                        requests.append((i, key))
                    }
                }
            }
            result.scores += try await state.scores(requests: requests)
            result.requestCount += requests.count
            state.keepMerges(only: Set(keys))
        }
        return result
    }

    /// The assignment after the moves, best gains first, each skipped if it would empty a cluster.
    private static func movingBestGainsFirst(_ assignment: [Int], sizes: [Int],
                                             moves: [(task: Int, to: Int, gain: Double)]) -> [Int] {
        var sizes = sizes
        var next = assignment
        for move in moves.sorted(by: { $0.gain > $1.gain || ($0.gain == $1.gain && $0.task < $1.task) }) {
            let from = next[move.task]
            guard sizes[from] > 1 else { continue }
            sizes[from] -= 1
            sizes[move.to] += 1
            next[move.task] = move.to
        }
        return next
    }

    static func members(of assignment: [Int], k: Int) -> [[Int]] {
        var clusters = [[Int]](repeating: [], count: k)
        for (task, cluster) in assignment.enumerated() { clusters[cluster].append(task) }
        return clusters
    }

    /// Clusters by decreasing mean cosine between task i and their members (i itself excluded).
    static func rankedClusters(for i: Int, clusters: [[Int]], similarity: TaskSimilarity) -> [Int] {
        let affinity: [Double] = clusters.map { members in
            let others = members.filter { $0 != i }
            guard !others.isEmpty else { return -2 }
            return others.reduce(0) { $0 + similarity.cosine(i, $1) } / Double(others.count)
        }
        return clusters.indices.sorted { affinity[$0] > affinity[$1] || (affinity[$0] == affinity[$1] && $0 < $1) }
    }

    static func format(_ x: Double) -> String {
        let scaled = (x * 1000).rounded() / 1000
        return "\(scaled)"
    }

    /// Merges and scores, each computed once per (member set) and (task, member set).
    private struct State {
        let tasks: [TaskProfile]
        let similarity: TaskSimilarity
        let mergedRank: Int
        let options: Options
        let evaluator: any Evaluator
        let merger: any ClusterMerging
        let mergeScores: MergeScores?
        let scoreBound: ScoreBound?
        var ownScores: [Double] = []
        var merged: [String: LoRAAdapter] = [:]
        /// The members of every set made available (`ensureMerged`), by key.
        var membersOf: [String: [Int]] = [:]
        var singletonOf: [String: Int] = [:]
        var scoreCache: [String: Double] = [:]
        var evaluations = 0

        static func key(_ members: [Int]) -> String { members.sorted().map(String.init).joined(separator: ",") }

        mutating func scoreOwnAdapters() async throws {
            let requests: [(Int, LoRAAdapter)] = tasks.indices.map { ($0, tasks[$0].adapter) }
            ownScores = try await evaluate(requests)
            for (i, score) in ownScores.enumerated() where !(score > 0) {
                throw ClusteringError(.evaluatorFailed,
                    "evaluator \(evaluator.name) scored task '\(tasks[i].name)''s own adapter at \(score); "
                    + "retained quality needs a positive score for it (use accuracy or exp(−loss))")
            }
        }

        /// Makes the adapter serving a member set available to `scores`: its merge, or with
        /// `mergeScores` every member's score of it.
        mutating func ensureMerged(_ members: [Int]) throws {
            guard let mergeScores else {
                try merge(members)
                return
            }
            let key = Self.key(members)
            membersOf[key] = members
            if singletonOf[key] != nil || members.allSatisfy({ scoreCache["\($0)|\(key)"] != nil }) { return }
            try Task.checkCancellation()
            if let only = ownAdapterServing(members) {
                singletonOf[key] = only
                return
            }
            let sorted = members.sorted()
            let weights = mergeWeights(sorted)
            let values = try ClusteringError.reportingMergeFailure(
                "merging tasks \(sorted.map { "'\(tasks[$0].name)'" }.joined(separator: ", "))") {
                try mergeScores(sorted, weights, mergedRank)
            }
            for (task, value) in zip(sorted, values) { scoreCache["\(task)|\(key)"] = value }
        }

        /// The weights `members` are merged with, in their order.
        func mergeWeights(_ members: [Int]) -> [Double] {
            options.weighting.weights(norms: members.map { similarity.norm($0) })
        }

        /// Whether `task`'s score against `cluster` with it added is bounded by `threshold` (so no
        /// need to score it); false when no bound is known.
        func cannotMove(task: Int, to cluster: [Int], threshold: Double) throws -> Bool {
            guard let scoreBound else { return false }
            let members = (cluster + [task]).sorted(), others = cluster.sorted()
            let (weights, otherWeights) = (mergeWeights(members), mergeWeights(others))
            guard let bound = try scoreBound(task, members, weights, mergedRank, others, otherWeights) else { return false }
            return bound <= threshold
        }

        /// The task whose own adapter serves `members`: a singleton whose rank fits the merged rank.
        func ownAdapterServing(_ members: [Int]) -> Int? {
            guard members.count == 1, let only = members.first,
                  (tasks[only].adapter.modules.map(\.rank).max() ?? 0) <= mergedRank else { return nil }
            return only
        }

        /// The adapter serving a member set: a singleton's own adapter when its rank fits, else the merge.
        @discardableResult
        mutating func merge(_ members: [Int]) throws -> LoRAAdapter {
            let key = Self.key(members)
            if let done = merged[key] { return done }
            try Task.checkCancellation()
            let adapter: LoRAAdapter
            if let only = ownAdapterServing(members) {
                adapter = tasks[only].adapter
                singletonOf[key] = only
            } else {
                let weights = mergeWeights(members)
                let names = members.map { "'\(tasks[$0].name)'" }.joined(separator: ", ")
                adapter = try ClusteringError.reportingMergeFailure("merging tasks \(names) with \(merger.name)") {
                    try merger.merge(members.map { tasks[$0].adapter }, weights: weights, rank: mergedRank)
                }
            }
            merged[key] = adapter
            return adapter
        }

        /// Whether (task, member set) has a score already (a singleton's own adapter: its own score).
        func hasScore(task: Int, key: String) -> Bool {
            scoreCache["\(task)|\(key)"] != nil || singletonOf[key] == task
        }

        /// Forgets every merge but those of `keys`. Scores stay cached, so a merge is needed only until
        /// its scores are taken; one needed again is merged again (merges are deterministic).
        mutating func keepMerges(only keys: Set<String>) {
            merged = merged.filter { keys.contains($0.key) }
        }

        /// Scores of (task, member-set key) pairs; a task against its own adapter is its own score.
        mutating func scores(requests: [(Int, String)]) async throws -> [Double] {
            var missing: [(Int, LoRAAdapter)] = []
            var missingKeys: [String] = []
            var queued = Set<String>()
            for (task, key) in requests {
                let cacheKey = "\(task)|\(key)"
                if scoreCache[cacheKey] != nil || singletonOf[key] == task || queued.contains(cacheKey) { continue }
                // With `mergeScores` only members are scored without a merge; a task against a cluster it
                // is not in (`CandidateMerge.withoutTask`) needs the merge.
                guard let adapter = try merged[key] ?? membersOf[key].map({ try merge($0) }) else { continue }
                queued.insert(cacheKey)
                missing.append((task, adapter))
                missingKeys.append(cacheKey)
            }
            let fresh = try await evaluate(missing)
            for (cacheKey, value) in zip(missingKeys, fresh) { scoreCache[cacheKey] = value }
            return requests.map { task, key in
                singletonOf[key] == task ? ownScores[task] : (scoreCache["\(task)|\(key)"] ?? -.infinity)
            }
        }

        /// Runs the evaluator on (task, candidate) pairs (`Evaluator.checkedScores`: a waiting evaluator
        /// at most `parallelism` at a time), in order.
        mutating func evaluate(_ requests: [(Int, LoRAAdapter)]) async throws -> [Double] {
            evaluations += requests.count
            return try await evaluator.checkedScores(requests.map { (tasks[$0.0], $0.1) }, concurrency: options.parallelism)
        }
    }
}
