import Foundation

/// The five statistics of one module's singular-value spectrum that make up the spectral signature.
///
/// For σ₁ ≥ … ≥ σₙ ≥ 0, the n = min(r, out, in) singular values of ΔW = s·B·A, and E = Σ σᵢ²
/// (definitions and rationale in docs/SIGNATURE.md):
/// - `sigma1` = σ₁, the spectral norm of ΔW.
/// - `frobenius` = √E = ‖ΔW‖_F.
/// - `energyConcentration` = σ₁² / E, in [1/n, 1].
/// - `spectralEntropy` = −Σ pᵢ ln pᵢ / ln n with pᵢ = σᵢ²/E, in [0, 1]; 0 when n = 1.
/// - `kurtosis` = m₄/m₂² − 3 (excess kurtosis, population moments about the mean) of {σ₁…σₙ};
///   0 when n < 2 or the spectrum is flat (m₂ ≤ (10⁻⁸ σ₁)²).
/// A zero or empty spectrum gives all five statistics 0.
public struct SpectralStatistics: Sendable, Hashable, Codable {
    public var sigma1: Double
    public var frobenius: Double
    public var energyConcentration: Double
    public var spectralEntropy: Double
    public var kurtosis: Double

    /// Stable statistic names, in the order of `values`.
    public static let names = ["sigma1", "frobenius", "energy_concentration", "spectral_entropy", "kurtosis"]

    /// All five statistics 0 (a missing projection or a zero update).
    public static let zero = SpectralStatistics(
        sigma1: 0, frobenius: 0, energyConcentration: 0, spectralEntropy: 0, kurtosis: 0)

    /// Relative spread below which a spectrum counts as flat for the kurtosis.
    public static let flatSpectrumTolerance = 1e-8

    public init(sigma1: Double, frobenius: Double, energyConcentration: Double, spectralEntropy: Double, kurtosis: Double) {
        self.sigma1 = sigma1
        self.frobenius = frobenius
        self.energyConcentration = energyConcentration
        self.spectralEntropy = spectralEntropy
        self.kurtosis = kurtosis
    }

    /// Computes the statistics of a spectrum (any order; signs are ignored). Non-finite values give `zero`.
    public init(singularValues: [Double]) {
        let sigma = singularValues.map { abs($0) }.sorted(by: >)
        guard let top = sigma.first, top > 0, top.isFinite else {
            self = .zero
            return
        }
        let n = sigma.count
        // Normalise by σ₁ so squares and fourth powers cannot overflow or underflow.
        let unit = sigma.map { $0 / top }
        let unitEnergy = unit.reduce(0) { $0 + $1 * $1 }
        sigma1 = top
        frobenius = top * unitEnergy.squareRoot()
        energyConcentration = 1 / unitEnergy
        if n >= 2 {
            var entropy = 0.0
            for u in unit where u > 0 {
                let p = u * u / unitEnergy
                entropy -= p * log(p)
            }
            spectralEntropy = min(1, max(0, entropy / log(Double(n))))
        } else {
            spectralEntropy = 0
        }
        let mean = unit.reduce(0, +) / Double(n)
        var m2 = 0.0, m4 = 0.0
        for u in unit {
            let d = (u - mean) * (u - mean)
            m2 += d
            m4 += d * d
        }
        m2 /= Double(n)
        m4 /= Double(n)
        let tol = SpectralStatistics.flatSpectrumTolerance
        kurtosis = (n >= 2 && m2 > tol * tol) ? m4 / (m2 * m2) - 3 : 0
    }

    /// The statistics in the order of `names`.
    public var values: [Double] { [sigma1, frobenius, energyConcentration, spectralEntropy, kurtosis] }

    /// Rebuilds statistics from five values in the order of `names`; nil for any other count.
    public init?(values: [Double]) {
        guard values.count == 5 else { return nil }
        self.init(sigma1: values[0], frobenius: values[1], energyConcentration: values[2],
                  spectralEntropy: values[3], kurtosis: values[4])
    }

    enum CodingKeys: String, CodingKey {
        case sigma1
        case frobenius
        case energyConcentration = "energy_concentration"
        case spectralEntropy = "spectral_entropy"
        case kurtosis
    }
}
