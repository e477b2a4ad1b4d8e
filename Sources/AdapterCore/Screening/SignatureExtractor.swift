/// Computes an adapter's spectral signature from its factors: one factored SVD per attention module
/// (`LowRank.singularValues`), never forming ΔW.
public enum SignatureExtractor {
    /// The 20-value signature and per-layer table of `adapter`. Modules that are not attention projections
    /// ("other") are not part of the signature.
    public static func signature(of adapter: LoRAAdapter) throws -> AdapterSignature {
        // The modules on `ComputeThreads` threads, in order.
        let modules = adapter.modules
        return AdapterSignature(modules: try ParallelLoop.map(modules.count, cancellable: false) {
            try statistics(of: modules[$0])
        }.compactMap { $0 })
    }

    /// The statistics of one module, or nil if it is not an attention projection.
    public static func statistics(of module: LoRAModule) throws -> ModuleSpectralStatistics? {
        guard let projection = module.projection else { return nil }
        let sigma = try LowRank.singularValues(of: module.update)
        return ModuleSpectralStatistics(
            name: module.name, layer: module.layer, projection: projection, spectrumLength: sigma.count,
            statistics: SpectralStatistics(singularValues: sigma))
    }
}
