@testable import AdapterCore
@testable import AdapterTraining
import Testing

@Suite("Metrics")
struct MetricsTests {
    @Test("AUC of perfect, reversed and random-tie rankings")
    func aucKnownCases() {
        #expect(ClassificationMetrics.auc(scores: [0.1, 0.2, 0.8, 0.9], labels: [false, false, true, true]) == 1)
        #expect(ClassificationMetrics.auc(scores: [0.9, 0.8, 0.2, 0.1], labels: [false, false, true, true]) == 0)
        #expect(ClassificationMetrics.auc(scores: [0.5, 0.5, 0.5, 0.5], labels: [false, true, false, true]) == 0.5)
    }

    @Test("AUC handles ties as one half (reference: scikit-learn roc_auc_score = 0.5833…)")
    func aucTies() {
        let auc = ClassificationMetrics.auc(scores: [0.9, 0.9, 0.4, 0.1, 0.4], labels: [true, false, true, false, true])
        #expect(abs(auc - 7.0 / 12.0) < 1e-12)
    }

    @Test("AUC is NaN with one class only")
    func aucOneClass() {
        #expect(ClassificationMetrics.auc(scores: [0.1, 0.2], labels: [true, true]).isNaN)
    }

    @Test("confusion matrix and rates")
    func confusion() {
        let c = ClassificationMetrics.confusion(scores: [0.9, 0.6, 0.4, 0.2, 0.7], labels: [true, false, true, false, true],
                                                threshold: 0.5)
        #expect(c == ConfusionMatrix(truePositives: 2, falsePositives: 1, trueNegatives: 1, falseNegatives: 1))
        #expect(c.accuracy == 0.6)
        #expect(c.falsePositiveRate == 0.5)
        #expect(abs(c.truePositiveRate - 2.0 / 3.0) < 1e-12)
    }

    @Test("fixed false-positive-rate threshold keeps at most the allowed benign scores above it")
    func thresholdPolicy() {
        let benign = (0..<20).map { Double($0) / 40 }           // 0 … 0.475
        let poisoned = [0.6, 0.7, 0.8]
        let scores = benign + poisoned
        let labels = benign.map { _ in false } + poisoned.map { _ in true }
        let t = ThresholdPolicy.fixedFalsePositiveRate(0.05).threshold(scores: scores, labels: labels)
        // 5 % of 20 = 1 benign score may be flagged: the top benign (0.475) is above, 0.45 below.
        #expect(t > 0.45 && t <= 0.475)
        let strict = ThresholdPolicy.fixedFalsePositiveRate(0).threshold(scores: scores, labels: labels)
        #expect(strict > 0.475 && strict <= 0.6)
        #expect(ClassificationMetrics.confusion(scores: scores, labels: labels, threshold: strict).falsePositiveRate == 0)
        #expect(ThresholdPolicy.fixed(0.3).threshold(scores: scores, labels: labels) == 0.3)
    }
}
