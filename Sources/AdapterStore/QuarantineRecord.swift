import Foundation

/// A refused adapter: all the store keeps of it (no files).
public struct QuarantineRecord: Hashable, Sendable, Codable {
    public var id: Int64
    /// SHA-256 of the refused adapter_model.safetensors.
    public var weightsDigest: ContentDigest
    /// The task name the client tried to install it as (as sent, at most 256 characters).
    public var task: String
    public var verdict: VerdictRecord
    public var refusedAt: Date
    /// uid of the peer that tried.
    public var peerUID: UInt32
}
