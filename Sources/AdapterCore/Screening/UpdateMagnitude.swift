import Foundation

/// The size bound every adapter's updates must respect before a detector scores it: each module's
/// ΔW = s·B·A must have a finite Frobenius norm of at most `maximumFrobeniusNorm`.
///
/// Why screening needs it: token-alignment features read only directions (they are the same for ΔW
/// and 10³⁰·ΔW), and spectral features of weights near the F32 limit or of a huge `lora_alpha`
/// overflow on the way to a score, so without the bound such an adapter could be scored as benign or
/// not at all. Why 65504: adapterd serves merged adapters in F16 with the singular values folded into
/// B (entries up to σ₁ ≤ ‖ΔW‖_F), and 65504 is F16's largest finite value, so a larger update could not
/// be served. Trained adapters are far below it (at most 41 in the committed corpus and the test
/// fixtures).
public enum UpdateMagnitude {
    /// Largest accepted ‖s·B·A‖_F of one module.
    public static let maximumFrobeniusNorm = 65504.0

    /// Natural logarithm of ‖s·B·A‖_F, computed without overflow from the factors scaled to unit
    /// maximum: finite for any finite factors and scale (−∞ for a zero update), NaN when a factor or
    /// the scale is not finite.
    public static func logFrobeniusNorm(of module: LoRAModule) -> Double {
        let s = abs(module.scale)
        let (b, a) = (module.b, module.a)
        let mb = maximumMagnitude(b), ma = maximumMagnitude(a)
        guard s.isFinite, mb.isFinite, ma.isFinite else { return .nan }
        guard s > 0, mb > 0, ma > 0 else { return -.infinity }
        // Entries of the scaled factors lie in [-1, 1], so their Gram matrices cannot overflow.
        let unit = LowRankUpdate(unchecked: b.scaled(1 / mb), a.scaled(1 / ma), 1)
        let n0 = LowRank.frobeniusNorm(of: unit)
        guard n0.isFinite else { return .nan }
        return log(s) + log(mb) + log(ma) + log(n0)
    }

    /// One entry per module whose update is not finite or exceeds the bound ("≈ 8.75e+12 in
    /// model.layers.0.self_attn.q_proj"); empty when all are within it.
    public static func violations(in adapter: LoRAAdapter) -> [String] {
        let limit = log(maximumFrobeniusNorm)
        let modules = adapter.modules
        // The norms on `ComputeThreads` threads, read in module order.
        let logNorms = ParallelLoop.mapAll(modules.count) { logFrobeniusNorm(of: modules[$0]) }
        var out: [String] = []
        for (module, logNorm) in zip(modules, logNorms) {
            if logNorm.isNaN {
                out.append("not finite in \(module.name) (scale \(module.scale))")
            } else if logNorm > limit {
                out.append("≈ \(describe(logNorm)) in \(module.name)")
            }
        }
        return out
    }

    /// The out-of-distribution reason for an adapter with violations, naming the first few modules.
    public static func reason(_ violations: [String]) -> String {
        let listed = violations.prefix(3).joined(separator: ", ")
        let more = violations.count > 3 ? " and \(violations.count - 3) more module(s)" : ""
        return "update too large to screen or serve: ‖s·B·A‖_F \(listed)\(more); the limit is "
            + "\(Int(maximumFrobeniusNorm)) (F16's largest value; merged adapters are served in F16)"
    }

    private static func maximumMagnitude(_ m: Matrix) -> Double {
        var top = 0.0
        for x in m.elements {
            guard x.isFinite else { return .nan }
            top = max(top, abs(x))
        }
        return top
    }

    /// e^logNorm as "1.23e+117", or "1e+400" when it exceeds Double's range.
    private static func describe(_ logNorm: Double) -> String {
        let value = exp(logNorm)
        if value.isFinite { return String(format: "%.3g", value) }
        return "1e+\(String(format: "%.0f", logNorm / log(10)))"
    }
}
