/// Frobenius inner products of adapters' updates ΔW = scale·B·A computed from the factors, summed
/// over modules matched by name; a module missing from one side counts as a zero update.
///
/// ⟨s₁B₁A₁, s₂B₂A₂⟩ = s₁s₂ Σᵢⱼ (B₁ᵀB₂)ᵢⱼ (A₁A₂ᵀ)ᵢⱼ: two r₁×r₂ products, never out×in.
enum FactoredUpdates {
    /// The Gram blocks B₁ᵀB₂ and A₁A₂ᵀ (r1 × r2 each) of one pair of modules (shapes must agree).
    static func blocks(_ m1: LoRAModule, _ m2: LoRAModule) -> (columns: Matrix, rows: Matrix) {
        (m1.b.multiplied(by: m2.b, transposeSelf: true), m1.a.multiplied(by: m2.a, transposeOther: true))
    }

    /// ⟨ΔW₁, ΔW₂⟩ of one pair of modules (shapes must agree).
    static func inner(_ m1: LoRAModule, _ m2: LoRAModule) -> Double {
        let (bb, aa) = blocks(m1, m2)
        var sum = 0.0
        for i in 0..<bb.elements.count { sum += bb.elements[i] * aa.elements[i] }
        return m1.scale * m2.scale * sum
    }

    /// Σ over modules of ⟨ΔW₁, ΔW₂⟩, modules matched by name (on `ComputeThreads` threads, summed in
    /// module order).
    static func inner(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        var byName: [String: LoRAModule] = [:]
        for module in y.modules { byName[module.name] = module }
        let terms = ParallelLoop.mapAll(x.modules.count) { m -> Double in
            let module = x.modules[m]
            guard let other = byName[module.name],
                  other.inFeatures == module.inFeatures, other.outFeatures == module.outFeatures else { return 0 }
            return inner(module, other)
        }
        return terms.reduce(0, +)
    }

    /// ‖ΔW‖²_F summed over modules, computed once per adapter (a pass over all its factors).
    static func normSquared(_ x: LoRAAdapter) -> Double {
        x.normSquaredMemo.value {
            ParallelLoop.mapAll(x.modules.count) { inner(x.modules[$0], x.modules[$0]) }.reduce(0, +)
        }
    }

    /// ‖ΔW_x − ΔW_y‖²_F summed over modules (clamped at 0 against rounding).
    static func distanceSquared(_ x: LoRAAdapter, _ y: LoRAAdapter) -> Double {
        max(0, normSquared(x) - 2 * inner(x, y) + normSquared(y))
    }
}
