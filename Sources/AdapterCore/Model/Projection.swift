/// The attention projection a LoRA module adapts. Modules that are not attention projections
/// (MLP, embeddings, …) carry no projection and are reported as "other".
public enum Projection: String, Sendable, CaseIterable, Codable, Hashable, Comparable {
    case q, k, v, o

    public static func < (lhs: Projection, rhs: Projection) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
