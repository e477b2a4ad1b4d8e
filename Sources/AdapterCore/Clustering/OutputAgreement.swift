import Foundation

/// How closely the base model with a candidate adapter reproduces, at its output, what it does with
/// the task's own adapter on the task's examples — the check of the data-aware score against what
/// the model actually computes (a forward pass per candidate, so not what the planner runs).
///
/// The output of a sequence is, for an encoder, its sentence embedding (mean-pooled last hidden
/// state, L2-normalised, as sentence-transformers and the corpus's head use it) and, for a decoder,
/// the final hidden state of its last token and the next-token distribution there (what answers
/// the prompt).
public struct OutputAgreement: Sendable, Hashable {
    public let sequences: Int
    /// Mean over sequences of cos(o_candidate, o_own).
    public let meanCosine: Double
    /// 1 − Σ‖o_candidate − o_own‖² / Σ‖o_own − o_base‖²: the share of the own adapter's change of the
    /// outputs that the candidate reproduces (1: the same outputs; 0: no closer than the base model;
    /// negative: farther). nil when the own adapter changes no output.
    public let retention: Double?
    /// Decoders: mean KL(p_own ‖ p_candidate) of the next-token distributions at the last token, in nats.
    public let meanKL: Double?
    /// Decoders: mean KL(p_own ‖ p_base), the same for the base model without an adapter.
    public let baseKL: Double?
    /// Decoders: the share of sequences whose most likely next token is the own adapter's.
    public let top1Agreement: Double?

    /// Decoders: 1 − meanKL / baseKL (nil when the own adapter does not move the distributions).
    public var klRetention: Double? {
        guard let meanKL, let baseKL, baseKL > 0 else { return nil }
        return 1 - meanKL / baseKL
    }

    /// The outputs of the own adapter and of the base model on a task's sequences, computed once and
    /// compared with any number of candidates.
    public struct Reference: Sendable {
        public let model: BaseModel
        public let sequences: [[Int32]]
        let own: Outputs
        let base: Outputs

        public init(model: BaseModel, sequences: [[Int32]], own: FactoredLoRA) throws(ModelRuntimeError) {
            guard !sequences.isEmpty else { throw ModelRuntimeError(.invalidArgument, "no sequences to compare outputs on") }
            self.model = model
            self.sequences = sequences
            self.own = try Outputs(model, sequences, own)
            self.base = try Outputs(model, sequences, nil)
        }

        /// The candidate's agreement with the own adapter.
        public func agreement(_ candidate: FactoredLoRA) throws(ModelRuntimeError) -> OutputAgreement {
            let c = try Outputs(model, sequences, candidate)
            var cosine = 0.0, lost = 0.0, moved = 0.0
            for s in sequences.indices {
                cosine += Self.cosine(c.vectors[s], own.vectors[s])
                lost += Self.distanceSquared(c.vectors[s], own.vectors[s])
                moved += Self.distanceSquared(own.vectors[s], base.vectors[s])
            }
            let n = Double(sequences.count)
            var meanKL: Double?, baseKL: Double?, top1: Double?
            if let ownLogits = own.logits, let cLogits = c.logits, let baseLogits = base.logits {
                var kl = 0.0, klBase = 0.0, same = 0
                for s in sequences.indices {
                    let p = Self.logSoftmax(ownLogits[s])
                    kl += Self.kl(p, Self.logSoftmax(cLogits[s]))
                    klBase += Self.kl(p, Self.logSoftmax(baseLogits[s]))
                    if Self.argmax(ownLogits[s]) == Self.argmax(cLogits[s]) { same += 1 }
                }
                meanKL = kl / n
                baseKL = klBase / n
                top1 = Double(same) / n
            }
            return OutputAgreement(sequences: sequences.count, meanCosine: cosine / n,
                                   retention: moved > 0 ? 1 - lost / moved : nil,
                                   meanKL: meanKL, baseKL: baseKL, top1Agreement: top1)
        }

        static func cosine(_ a: [Float], _ b: [Float]) -> Double {
            var dot = 0.0, na = 0.0, nb = 0.0
            for i in a.indices {
                dot += Double(a[i]) * Double(b[i])
                na += Double(a[i]) * Double(a[i])
                nb += Double(b[i]) * Double(b[i])
            }
            let norms = (na * nb).squareRoot()
            return norms > 0 ? dot / norms : (na == nb ? 1 : 0)
        }

        static func distanceSquared(_ a: [Float], _ b: [Float]) -> Double {
            var sum = 0.0
            for i in a.indices {
                let d = Double(a[i]) - Double(b[i])
                sum += d * d
            }
            return sum
        }

        static func logSoftmax(_ logits: [Float]) -> [Double] {
            let top = Double(logits.max() ?? 0)
            let logSum = log(logits.reduce(0.0) { $0 + exp(Double($1) - top) }) + top
            return logits.map { Double($0) - logSum }
        }

        /// KL(p ‖ q) of two log-distributions.
        static func kl(_ logP: [Double], _ logQ: [Double]) -> Double {
            var sum = 0.0
            for i in logP.indices { sum += exp(logP[i]) * (logP[i] - logQ[i]) }
            return max(0, sum)
        }

        static func argmax(_ values: [Float]) -> Int {
            var best = 0
            for i in values.indices where values[i] > values[best] { best = i }
            return best
        }
    }

    /// One adapter's outputs per sequence: the compared vectors, and next-token logits for decoders.
    struct Outputs: Sendable {
        let vectors: [[Float]]
        let logits: [[Float]]?

        init(_ model: BaseModel, _ sequences: [[Int32]], _ adapter: FactoredLoRA?) throws(ModelRuntimeError) {
            switch model {
            case .bert(let bert):
                vectors = try bert.meanPooled(sequences, adapter: adapter).map(MiniLMEmbedder.normalised)
                logits = nil
            case .decoder(let decoder):
                let outputs = try decoder.forward(sequences, adapter: adapter, logits: .last)
                let h = decoder.configuration.hiddenSize
                vectors = outputs.map { Array($0.hiddenStates.suffix(h)) }
                logits = outputs.map(\.logits)
            }
        }
    }
}
