/// k-medoids clustering on a precomputed distance matrix: k-means++-style seeding (first medoid
/// uniform, then each next one drawn with probability ∝ D(x)², deterministic for a seed), alternating
/// assignment/medoid updates, then PAM swaps until no swap lowers the total distance.
/// Several restarts from derived seeds; the lowest-cost result wins.
public enum KMedoids {
    /// A clustering: `assignment[i]` is the cluster of point i (0..<k, clusters ordered by their
    /// medoid's index), `medoids[c]` the point index at the centre of cluster c.
    public struct Result: Sendable, Equatable {
        public let medoids: [Int]
        public let assignment: [Int]
        /// Σ over points of the distance to their medoid.
        public let cost: Double
    }

    /// Clusters `count` points given the row-major `count × count` distance matrix.
    public static func cluster(
        distances: [Double], count n: Int, k: Int, seed: UInt64 = 0, restarts: Int = 4,
        maxIterations: Int = 100
    ) throws -> Result {
        guard n > 0 else { throw ClusteringError(.invalidArgument, "k-medoids needs at least one point") }
        guard distances.count == n * n else {
            throw ClusteringError(.invalidArgument, "distance matrix has \(distances.count) entries, expected \(n * n)")
        }
        guard k >= 1 else { throw ClusteringError(.invalidArgument, "k-medoids needs k ≥ 1, got \(k)") }
        guard distances.allSatisfy({ $0.isFinite }) else {
            throw ClusteringError(.invalidArgument, "distance matrix has a non-finite entry")
        }
        if k >= n { return finish(medoids: Array(0..<n), distances: distances, n: n) }
        var best: Result?
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<max(1, restarts) {
            var runGenerator = SeededGenerator(seed: generator.next())
            var medoids = seedMedoids(distances: distances, n: n, k: k, generator: &runGenerator)
            medoids = alternate(medoids: medoids, distances: distances, n: n, maxIterations: maxIterations)
            medoids = swap(medoids: medoids, distances: distances, n: n, maxSwaps: maxIterations)
            let result = finish(medoids: medoids, distances: distances, n: n)
            if best == nil || result.cost < best!.cost - 1e-12 { best = result }
        }
        return best!
    }

    /// Total distance of every point to its nearest medoid.
    public static func cost(medoids: [Int], distances: [Double], count n: Int) -> Double {
        (0..<n).reduce(0) { sum, x in sum + (medoids.map { distances[x * n + $0] }.min() ?? 0) }
    }

    private static func seedMedoids(distances d: [Double], n: Int, k: Int,
                                    generator: inout SeededGenerator) -> [Int] {
        var medoids = [Int(generator.next() % UInt64(n))]
        var nearest = (0..<n).map { d[$0 * n + medoids[0]] }
        while medoids.count < k {
            let weights = nearest.map { $0 * $0 }
            let total = weights.reduce(0, +)
            var pick: Int
            if total > 0 {
                var target = generator.nextUnitDouble() * total
                pick = n - 1
                for i in 0..<n where weights[i] > 0 {
                    target -= weights[i]
                    if target < 0 { pick = i; break }
                }
                if medoids.contains(pick) { pick = (0..<n).first { !medoids.contains($0) && weights[$0] > 0 } ?? pick }
            } else {
                pick = (0..<n).first { !medoids.contains($0) }!
            }
            medoids.append(pick)
            for i in 0..<n { nearest[i] = min(nearest[i], d[i * n + pick]) }
        }
        return medoids
    }

    private static func assign(medoids: [Int], distances d: [Double], n: Int) -> [Int] {
        (0..<n).map { x in
            var bestCluster = 0
            var bestDistance = Double.infinity
            for (c, m) in medoids.enumerated() {
                let dist = m == x ? -1 : d[x * n + m]   // a medoid always belongs to its own cluster
                if dist < bestDistance { bestDistance = dist; bestCluster = c }
            }
            return bestCluster
        }
    }

    private static func alternate(medoids start: [Int], distances d: [Double], n: Int, maxIterations: Int) -> [Int] {
        var medoids = start
        for _ in 0..<maxIterations {
            let assignment = assign(medoids: medoids, distances: d, n: n)
            var next = medoids
            for c in medoids.indices {
                let members = (0..<n).filter { assignment[$0] == c }
                var bestMember = medoids[c]
                var bestSum = members.reduce(0) { $0 + d[medoids[c] * n + $1] }
                for candidate in members {
                    let sum = members.reduce(0) { $0 + d[candidate * n + $1] }
                    if sum < bestSum - 1e-12 { bestSum = sum; bestMember = candidate }
                }
                next[c] = bestMember
            }
            if next == medoids { break }
            medoids = next
        }
        return medoids
    }

    /// PAM swap phase: repeatedly applies the best (medoid, non-medoid) exchange that lowers the cost.
    private static func swap(medoids start: [Int], distances d: [Double], n: Int, maxSwaps: Int) -> [Int] {
        var medoids = start
        for _ in 0..<maxSwaps {
            // Nearest and second-nearest medoid distances of every point.
            var nearestIndex = [Int](repeating: 0, count: n)
            var d1 = [Double](repeating: .infinity, count: n)
            var d2 = [Double](repeating: .infinity, count: n)
            for x in 0..<n {
                for (c, m) in medoids.enumerated() {
                    let dist = d[x * n + m]
                    if dist < d1[x] { d2[x] = d1[x]; d1[x] = dist; nearestIndex[x] = c }
                    else if dist < d2[x] { d2[x] = dist }
                }
            }
            let isMedoid = Set(medoids)
            var bestDelta = -1e-12
            var bestSwap: (Int, Int)?
            for c in medoids.indices {
                for o in 0..<n where !isMedoid.contains(o) {
                    var delta = 0.0
                    for x in 0..<n {
                        let dxo = d[x * n + o]
                        if nearestIndex[x] == c { delta += min(d2[x], dxo) - d1[x] }
                        else if dxo < d1[x] { delta += dxo - d1[x] }
                    }
                    if delta < bestDelta { bestDelta = delta; bestSwap = (c, o) }
                }
            }
            guard let (c, o) = bestSwap else { break }
            medoids[c] = o
        }
        return medoids
    }

    private static func finish(medoids unsorted: [Int], distances d: [Double], n: Int) -> Result {
        let medoids = unsorted.sorted()
        let assignment = assign(medoids: medoids, distances: d, n: n)
        let cost = (0..<n).reduce(0) { $0 + d[$1 * n + medoids[assignment[$1]]] }
        return Result(medoids: medoids, assignment: assignment, cost: cost)
    }
}
