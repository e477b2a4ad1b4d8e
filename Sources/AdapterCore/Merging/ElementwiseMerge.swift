/// The elementwise merge rules of TIES and DARE on dense updates of one module (all the same shape).
///
/// These follow the definitions in PEFT's `merge_utils` (trim by magnitude, sign election by total,
/// disjoint mean; random drop with rescale) so that merges agree with `add_weighted_adapter`.
public enum ElementwiseMerge {
    /// Keeps the ⌊density · n⌋ entries of largest magnitude and zeroes the rest; density ≥ 1 keeps all.
    /// Among entries equal in magnitude to the last one kept, the earliest (row-major) are kept.
    public static func trimmed(_ m: Matrix, density: Double) -> Matrix {
        let n = m.elements.count
        guard density < 1 else { return m }
        let keep = density > 0 ? min(n, Int((density * Double(n)).rounded(.towardZero))) : 0
        guard keep > 0 else { return Matrix(zeros: m.rows, m.cols) }
        let threshold = kthLargest(m.elements.map { abs($0) }, keep)
        var result = m
        var greater = 0
        for x in m.elements where abs(x) > threshold { greater += 1 }
        var equalBudget = keep - greater
        result.elements.withUnsafeMutableBufferPointer { r in
            for i in 0..<r.count {
                let magnitude = abs(r[i])
                if magnitude > threshold { continue }
                if magnitude == threshold && equalBudget > 0 {
                    equalBudget -= 1
                } else {
                    r[i] = 0
                }
            }
        }
        return result
    }

    /// TIES: trim each tensor to `density`, elect the sign of every entry from the trimmed (unweighted)
    /// tensors — sign of their sum (`.total`) or of the sum of their signs (`.frequency`); a zero elects + —
    /// then average the weighted entries whose sign agrees with it: Σᵢ wᵢ tᵢ [sign tᵢ = elected] /
    /// max(1, #agreeing). Zero entries never agree.
    public static func ties(
        _ tensors: [Matrix], weights: [Double], density: Double, majoritySign: MajoritySignMethod = .total
    ) -> Matrix {
        guard let first = tensors.first else { return Matrix(zeros: 0, 0) }
        let trimmedTensors = tensors.map { trimmed($0, density: density) }
        let n = first.elements.count
        var total = [Double](repeating: 0, count: n)
        for t in trimmedTensors {
            switch majoritySign {
            case .total:
                for i in 0..<n { total[i] += t.elements[i] }
            case .frequency:
                for i in 0..<n where t.elements[i] != 0 { total[i] += t.elements[i] > 0 ? 1 : -1 }
            }
        }
        var sum = [Double](repeating: 0, count: n)
        var count = [Double](repeating: 0, count: n)
        for (t, w) in zip(trimmedTensors, weights) {
            t.elements.withUnsafeBufferPointer { e in
                for i in 0..<n {
                    let x = e[i]
                    let agrees = total[i] >= 0 ? x > 0 : x < 0
                    if agrees {
                        sum[i] += w * x
                        count[i] += 1
                    }
                }
            }
        }
        for i in 0..<n { sum[i] /= max(1, count[i]) }
        return Matrix(rows: first.rows, cols: first.cols, elements: sum)
    }

    /// DARE (linear): each entry of tensor i survives with probability 1 − p, drawn from
    /// `SeededGenerator(seed: seeds[i])`; survivors are divided by 1 − p; the results are summed with
    /// the weights. Requires 0 ≤ p < 1.
    public static func dare(_ tensors: [Matrix], weights: [Double], dropProbability p: Double, seeds: [UInt64]) -> Matrix {
        guard let first = tensors.first else { return Matrix(zeros: 0, 0) }
        let n = first.elements.count
        let rescale = 1 / (1 - p)
        var sum = [Double](repeating: 0, count: n)
        for (index, (t, w)) in zip(tensors, weights).enumerated() {
            var rng = SeededGenerator(seed: index < seeds.count ? seeds[index] : UInt64(index))
            t.elements.withUnsafeBufferPointer { e in
                for i in 0..<n where rng.nextUnitDouble() >= p {
                    sum[i] += w * e[i] * rescale
                }
            }
        }
        return Matrix(rows: first.rows, cols: first.cols, elements: sum)
    }

    /// The k-th largest value (1 ≤ k ≤ count) by quickselect with a three-way partition (linear on average,
    /// robust to many equal values such as zeros).
    static func kthLargest(_ values: [Double], _ k: Int) -> Double {
        var a = values
        let target = k - 1
        return a.withUnsafeMutableBufferPointer { a -> Double in
            var lo = 0, hi = a.count - 1
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                let x = a[lo], y = a[mid], z = a[hi]
                let pivot = max(min(x, y), min(max(x, y), z))  // median of three
                // [lo, lt) > pivot, [lt, i) == pivot, (gt, hi] < pivot
                var lt = lo, i = lo, gt = hi
                while i <= gt {
                    if a[i] > pivot {
                        a.swapAt(lt, i); lt += 1; i += 1
                    } else if a[i] < pivot {
                        a.swapAt(i, gt); gt -= 1
                    } else {
                        i += 1
                    }
                }
                if target < lt {
                    hi = lt - 1
                } else if target > gt {
                    lo = gt + 1
                } else {
                    return pivot
                }
            }
            return a[lo]
        }
    }
}
