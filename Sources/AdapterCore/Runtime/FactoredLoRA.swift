import COpenBLAS

/// A LoRA adapter as the runtime applies it: for each adapted linear map, the factors A (r × in) and
/// B (out × r) and the scale s, so that the adapted map is y = W x + s · B (A x) — the dense update
/// s·B·A is never formed. An adapter is a value passed to a forward pass, so any number of adapters
/// run over one loaded base model without copying its weights.
///
/// Module names are PEFT's module paths without `base_model.model.` (as `LoRAModule.name`); each model
/// resolves them to its own linear maps and refuses names it does not have (`.invalidAdapter`).
public struct FactoredLoRA: Sendable {
    /// The factors of one adapted linear map, in single precision.
    public struct Module: Sendable, Equatable {
        public let name: String
        public let rank: Int
        public let inFeatures: Int
        public let outFeatures: Int
        /// r × in, row-major.
        public let a: [Float]
        /// out × r, row-major.
        public let b: [Float]
        public let scale: Float

        public init(name: String, a: [Float], b: [Float], rank: Int, inFeatures: Int, outFeatures: Int,
                    scale: Float) throws(ModelRuntimeError) {
            guard rank >= 1, inFeatures >= 1, outFeatures >= 1,
                  a.count == rank * inFeatures, b.count == outFeatures * rank else {
                throw ModelRuntimeError(.invalidAdapter,
                    "module '\(name)': factors of \(a.count) and \(b.count) values do not form A \(rank)×\(inFeatures) and B \(outFeatures)×\(rank)")
            }
            guard scale.isFinite, a.allSatisfy(\.isFinite), b.allSatisfy(\.isFinite) else {
                throw ModelRuntimeError(.invalidAdapter, "module '\(name)' has a NaN or infinite factor or scale")
            }
            self.name = name
            self.a = a
            self.b = b
            self.rank = rank
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
            self.scale = scale
        }

        /// y (rows × out, row stride `outputStride`) += s · (x Aᵀ) Bᵀ for x (rows × in).
        func addUpdate(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, outputStride: Int) {
            guard rows > 0 else { return }
            let projected = UnsafeMutablePointer<Float>.allocate(capacity: rows * rank)
            defer { projected.deallocate() }
            a.withUnsafeBufferPointer { a in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(rank), Int32(inFeatures),
                            1, x, Int32(inFeatures), a.baseAddress, Int32(inFeatures), 0, projected, Int32(rank))
            }
            b.withUnsafeBufferPointer { b in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(rank),
                            scale, projected, Int32(rank), b.baseAddress, Int32(rank), 1, y, Int32(outputStride))
            }
        }
    }

    /// The modules by name.
    public let modules: [String: Module]

    /// An adapter of the given modules (names must be distinct).
    public init(modules: [Module]) throws(ModelRuntimeError) {
        var byName: [String: Module] = [:]
        for module in modules {
            guard byName[module.name] == nil else {
                throw ModelRuntimeError(.invalidAdapter, "module '\(module.name)' appears twice")
            }
            byName[module.name] = module
        }
        self.modules = byName
    }

    /// A loaded PEFT adapter in factored single precision. Parts of fused projections (GPT-2
    /// `c_attn`, Phi-3 `qkv_proj`) are refused: no family of this runtime has them.
    public init(_ adapter: LoRAAdapter) throws(ModelRuntimeError) {
        var modules: [Module] = []
        for module in adapter.modules {
            guard !module.name.contains(ModuleNaming.partSeparator) else {
                throw ModelRuntimeError(.invalidAdapter,
                    "module '\(module.name)' is part of a fused projection, which the runtime's model families do not have")
            }
            modules.append(try Module(
                name: module.name, a: module.a.elements.map(Float.init), b: module.b.elements.map(Float.init),
                rank: module.rank, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                scale: Float(module.scale)))
        }
        try self.init(modules: modules)
    }
}
