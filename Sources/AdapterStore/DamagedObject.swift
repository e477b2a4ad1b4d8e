import Foundation

/// A stored object that is not what its name says: its bytes hash to another digest, its size is
/// not the one the catalog recorded, or it is missing. Never served, never merged from; its bytes
/// are set aside under `damaged/` (not deleted). Storing the same bytes again (installing the same
/// adapter again, or a re-plan writing the same merged adapter) repairs it.
public struct DamagedObject: Hashable, Sendable {
    public var digest: ContentDigest
    /// The size the catalog records (nil when the catalog does not reference it).
    public var recordedBytes: Int?
    /// What is wrong, as a sentence.
    public var problem: String
    /// Where its bytes were moved, if they were.
    public var setAsideAs: String?
    public var detectedAt: Date

    public init(digest: ContentDigest, recordedBytes: Int?, problem: String, setAsideAs: String?, detectedAt: Date) {
        self.digest = digest
        self.recordedBytes = recordedBytes
        self.problem = problem
        self.setAsideAs = setAsideAs
        self.detectedAt = detectedAt
    }
}

/// What `AdapterStore.verify` found.
public struct VerifyReport: Hashable, Sendable {
    /// Objects the catalog references, each hashed once.
    public var checkedObjects: Int
    /// Their bytes, as read.
    public var checkedBytes: Int
    /// Every object known to be damaged after the check (found now or before), by digest.
    public var damaged: [DamagedObject]
}

/// The damaged objects known to a store, by digest, with a counter that moves on every change (so
/// readers can tell whether what they derived from the set is current).
final class DamageRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var objects: [ContentDigest: DamagedObject] = [:]
    private var changes = 0

    var all: [DamagedObject] {
        lock.withLock { objects.values.sorted { $0.digest < $1.digest } }
    }

    var digests: Set<ContentDigest> { lock.withLock { Set(objects.keys) } }

    var version: Int { lock.withLock { changes } }

    func contains(_ digest: ContentDigest) -> Bool { lock.withLock { objects[digest] != nil } }

    /// Records damage; an object already known keeps its first record unless this one set it aside.
    func record(_ damage: DamagedObject) {
        lock.withLock {
            if let known = objects[damage.digest], known.setAsideAs != nil || damage.setAsideAs == nil { return }
            objects[damage.digest] = damage
            changes += 1
        }
    }

    /// Forgets an object that is whole again.
    func clear(_ digest: ContentDigest) {
        lock.withLock {
            if objects.removeValue(forKey: digest) != nil { changes += 1 }
        }
    }
}
