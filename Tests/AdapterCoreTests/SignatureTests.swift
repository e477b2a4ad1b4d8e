import Foundation
import Testing
@testable import AdapterCore

@Suite struct SignatureTests {
    func close(_ x: Double, _ y: Double, _ tol: Double = 1e-12) -> Bool { abs(x - y) <= tol * max(1, abs(y)) }

    @Test func twoValueSpectrum() {
        let s = SpectralStatistics(singularValues: [3, 4])
        #expect(s.sigma1 == 4)
        #expect(close(s.frobenius, 5))
        #expect(close(s.energyConcentration, 0.64))
        let h = -(0.64 * log(0.64) + 0.36 * log(0.36)) / log(2.0)
        #expect(close(s.spectralEntropy, h))
        // Any two distinct values have m4/m2² = 1, excess kurtosis −2.
        #expect(close(s.kurtosis, -2))
    }

    @Test func flatSpectrumHasMaximalEntropyAndZeroKurtosis() {
        let s = SpectralStatistics(singularValues: [2, 2, 2, 2])
        #expect(close(s.sigma1, 2) && close(s.frobenius, 4))
        #expect(close(s.energyConcentration, 0.25))
        #expect(close(s.spectralEntropy, 1))
        #expect(s.kurtosis == 0)
    }

    @Test func singleSpikeConcentratesAllEnergy() {
        let s = SpectralStatistics(singularValues: [0, 1, 0, 0])
        #expect(s.sigma1 == 1 && s.frobenius == 1)
        #expect(s.energyConcentration == 1)
        #expect(s.spectralEntropy == 0)
        // mean 1/4, m2 = 3/16, m4 = 21/256 → m4/m2² = 7/3, excess −2/3.
        #expect(close(s.kurtosis, 7.0 / 3.0 - 3))
        // With 16 values the same spike gives n − 5 + 1/(n − 1).
        var sixteen = [Double](repeating: 0, count: 16)
        sixteen[0] = 7
        #expect(close(SpectralStatistics(singularValues: sixteen).kurtosis, 11 + 1.0 / 15))
    }

    @Test func rankOneZeroAndEmptySpectra() {
        let one = SpectralStatistics(singularValues: [5])
        #expect(one == SpectralStatistics(sigma1: 5, frobenius: 5, energyConcentration: 1, spectralEntropy: 0, kurtosis: 0))
        #expect(SpectralStatistics(singularValues: [0, 0, 0]) == .zero)
        #expect(SpectralStatistics(singularValues: []) == .zero)
        #expect(SpectralStatistics(singularValues: [.nan, 1]) == .zero)
        #expect(SpectralStatistics(singularValues: [1, -3]).sigma1 == 3)
    }

    @Test func kurtosisOfAnAsymmetricSpectrum() {
        // σ = [4, 1, 1, 1, 1]: mean 1.6, deviations 2.4 and −0.6 ×4.
        let s = SpectralStatistics(singularValues: [1, 4, 1, 1, 1])
        let m2 = (2.4 * 2.4 + 4 * 0.36) / 5
        let m4 = (2.4 * 2.4 * 2.4 * 2.4 + 4 * 0.6 * 0.6 * 0.6 * 0.6) / 5
        #expect(close(s.kurtosis, m4 / (m2 * m2) - 3))
        #expect(close(s.energyConcentration, 16.0 / 20.0))
    }

    /// A module whose ΔW has exactly the given singular values: B = [diag(σ); 0], A = [I 0].
    func diagonalModule(_ name: String, layer: Int, _ projection: Projection?, _ sigma: [Double], out: Int = 6, inn: Int = 5) -> LoRAModule {
        let r = sigma.count
        var b = Matrix(zeros: out, r)
        var a = Matrix(zeros: r, inn)
        for i in 0..<r { b[i, i] = sigma[i] / 2; a[i, i] = 1 }
        return LoRAModule(name: name, layer: layer, projection: projection, a: a, b: b, scale: 2)
    }

    func adapter(_ modules: [LoRAModule]) -> LoRAAdapter {
        LoRAAdapter(config: PEFTConfig(baseModelNameOrPath: "base", r: 3, loraAlpha: 6), modules: modules,
                    architecture: .llama, storageDType: .f32, tensorBytes: 0)
    }

    @Test func signatureAveragesLayersAndFlagsMissingProjections() throws {
        let modules = [
            diagonalModule("model.layers.0.self_attn.q_proj", layer: 0, .q, [4, 3, 0]),
            diagonalModule("model.layers.1.self_attn.q_proj", layer: 1, .q, [2, 2, 2]),
            diagonalModule("model.layers.0.self_attn.k_proj", layer: 0, .k, [1, 0, 0]),
            diagonalModule("model.layers.0.self_attn.o_proj", layer: 0, .o, [5, 1, 1]),
            diagonalModule("model.layers.0.mlp.up_proj", layer: 0, nil, [9, 9, 9]),
        ]
        let signature = try SignatureExtractor.signature(of: adapter(modules))
        #expect(AdapterSignature.featureNames.count == 20)
        #expect(AdapterSignature.featureNames.first == "q.sigma1" && AdapterSignature.featureNames.last == "o.kurtosis")
        #expect(signature.values.count == 20)
        #expect(signature.missingProjections == [.v])
        #expect(signature.modules.count == 4)  // the MLP module is not part of the signature

        let q0 = SpectralStatistics(singularValues: [4, 3, 0])
        let q1 = SpectralStatistics(singularValues: [2, 2, 2])
        let q = signature.statistics(for: .q)
        #expect(close(q.sigma1, 3) && close(q.frobenius, (5 + 12.0.squareRoot()) / 2))
        #expect(close(q.energyConcentration, (q0.energyConcentration + q1.energyConcentration) / 2))
        #expect(close(q.spectralEntropy, (q0.spectralEntropy + q1.spectralEntropy) / 2, 1e-10))
        #expect(close(q.kurtosis, (q0.kurtosis + q1.kurtosis) / 2, 1e-10))
        #expect(signature.statistics(for: .v) == .zero)
        #expect(signature[feature: "v.sigma1"] == 0)
        #expect(close(signature[feature: "k.energy_concentration"] ?? -1, 1))
        #expect(close(signature[feature: "o.sigma1"] ?? -1, 5))
        #expect(signature[feature: "x.sigma1"] == nil)

        let maxima = signature.aggregated(.max)
        #expect(close(maxima[0], 4))
        let spread = signature.aggregated(.standardDeviation)
        #expect(close(spread[0], 1))  // σ₁ of q over layers: 4 and 2
        #expect(spread[5] == 0)  // k has one layer
        #expect(signature.aggregated(.mean) == signature.values)
        #expect(signature.layerTable(for: .q).map(\.layer) == [0, 1])
    }

    @Test func signatureRoundTripsThroughJSONWithStableNames() throws {
        let modules = [diagonalModule("model.layers.0.self_attn.v_proj", layer: 0, .v, [3, 1])]
        let signature = try SignatureExtractor.signature(of: adapter(modules))
        let data = try JSONEncoder().encode(signature)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"v.energy_concentration\""))
        #expect(text.contains("\"missing_projections\""))
        let decoded = try JSONDecoder().decode(AdapterSignature.self, from: data)
        #expect(decoded == signature)
        let broken = text.replacingOccurrences(of: "\"q.kurtosis\"", with: "\"q.other\"")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(AdapterSignature.self, from: Data(broken.utf8)) }
    }

    @Test func extractorMatchesTheDenseSpectrumOfRandomModules() throws {
        var rng = SeededGenerator(seed: 77)
        let module = LoRAModule(
            name: "model.layers.3.self_attn.k_proj", layer: 3, projection: .k,
            a: LowRankTesting.random(8, 40, &rng), b: LowRankTesting.random(16, 8, &rng), scale: 0.25)
        let row = try #require(try SignatureExtractor.statistics(of: module))
        let dense = try DenseReference.singularValues(of: module.update)
        let expected = SpectralStatistics(singularValues: Array(dense.prefix(8)))
        #expect(row.spectrumLength == 8)
        for (x, y) in zip(row.statistics.values, expected.values) { #expect(close(x, y, 1e-9)) }
    }
}
