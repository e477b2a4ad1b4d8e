/// MiniLM as a routing embedder (`TaskRouter`): one text at a time, in Double as routing computes.
extension MiniLMEmbedder: TextEmbedder {
    public func embed(_ text: String) throws -> [Double] {
        try embedding(of: text).map(Double.init)
    }
}
