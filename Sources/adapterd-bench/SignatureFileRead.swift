import AdapterCore

/// Writes the synthetic adapter as an F16 PEFT directory and times one read + decode of it.
enum SignatureFileRead {
    /// nil until the safetensors writer and PEFT loader are available to the benchmark.
    static func measure(_ adapter: LoRAAdapter) throws -> (seconds: Double, bytes: Int)? {
        nil
    }
}
