/// JSON has no NaN or infinity: a detector score or feature that is not finite (an update whose
/// statistics overflow) travels as `null` and reads back as NaN, so the message carrying it (a
/// refusal's details) is never lost for want of an encoding.
extension KeyedEncodingContainer {
    mutating func encodeFiniteOrNull(_ value: Double, forKey key: Key) throws {
        if value.isFinite {
            try encode(value, forKey: key)
        } else {
            try encodeNil(forKey: key)
        }
    }
}

extension KeyedDecodingContainer {
    func decodeFiniteOrNull(_ key: Key) throws -> Double {
        try decodeIfPresent(Double.self, forKey: key) ?? .nan
    }
}

extension VerdictFeature {
    enum CodingKeys: String, CodingKey { case name, value, contribution }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), value: try container.decodeFiniteOrNull(.value),
                  contribution: try container.decodeFiniteOrNull(.contribution))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encodeFiniteOrNull(value, forKey: .value)
        try container.encodeFiniteOrNull(contribution, forKey: .contribution)
    }
}

extension VerdictInfo {
    enum CodingKeys: String, CodingKey { case decision, score, threshold, topFeatures, model, reasons }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(decision: try container.decode(String.self, forKey: .decision), score: try container.decodeFiniteOrNull(.score),
                  threshold: try container.decode(Double.self, forKey: .threshold),
                  topFeatures: try container.decode([VerdictFeature].self, forKey: .topFeatures),
                  model: try container.decode(String.self, forKey: .model),
                  reasons: try container.decodeIfPresent([String].self, forKey: .reasons))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(decision, forKey: .decision)
        try container.encodeFiniteOrNull(score, forKey: .score)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(topFeatures, forKey: .topFeatures)
        try container.encode(model, forKey: .model)
        try container.encodeIfPresent(reasons, forKey: .reasons)
    }
}
