extension Methods {
    /// Hashes every stored object the catalog references and reports the damaged ones (which are then
    /// set aside and kept out of the served set). Reads every stored byte, so it needs an authorised
    /// peer like the methods that change the daemon.
    public enum Verify: RPCMethod {
        public typealias Params = NoParams
        public typealias Result = VerifyResult
        public static let name = "verify"
        public static let mutates = true
    }
}

/// A stored object that is not what its name says (`status` and `verify`).
public struct DamagedObjectInfo: Codable, Sendable, Hashable {
    /// The object's name: the SHA-256 its bytes should have.
    public var sha256: String
    /// Its size as the catalog records it (absent when not known).
    public var bytes: Int64?
    /// What is wrong: its bytes hash to another digest, its size differs, it is missing.
    public var problem: String
    /// Installed tasks whose files (adapter, config or examples) it is.
    public var tasks: [String]
    /// Served adapters (cluster ids) of the current generation whose files it is.
    public var clusters: [Int64]
    /// Where its bytes were moved (never deleted), if they were.
    public var setAsideAs: String?
    /// When it was found (RFC 3339).
    public var detectedAt: String

    public init(sha256: String, bytes: Int64?, problem: String, tasks: [String], clusters: [Int64],
                setAsideAs: String?, detectedAt: String) {
        self.sha256 = sha256
        self.bytes = bytes
        self.problem = problem
        self.tasks = tasks
        self.clusters = clusters
        self.setAsideAs = setAsideAs
        self.detectedAt = detectedAt
    }
}

/// Result of `verify`.
public struct VerifyResult: Codable, Sendable, Hashable {
    /// Objects the catalog references, each hashed once.
    public var checkedObjects: Int
    /// Bytes read.
    public var checkedBytes: Int64
    /// Every object known to be damaged after the check (empty: all intact).
    public var damagedObjects: [DamagedObjectInfo]
    public var seconds: Double
    /// When the check ended (RFC 3339).
    public var verifiedAt: String
    /// The current generation after the check: a new one when damage made the daemon re-plan the
    /// served set without the damaged objects.
    public var generation: Int64

    public init(checkedObjects: Int, checkedBytes: Int64, damagedObjects: [DamagedObjectInfo], seconds: Double,
                verifiedAt: String, generation: Int64) {
        self.checkedObjects = checkedObjects
        self.checkedBytes = checkedBytes
        self.damagedObjects = damagedObjects
        self.seconds = seconds
        self.verifiedAt = verifiedAt
        self.generation = generation
    }
}

/// The storage part of `status`: whether the daemon can change its state, and damaged objects.
public struct StorageStatus: Codable, Sendable, Hashable {
    /// True when changes are refused (`read only` errors); reads go on.
    public var readOnly: Bool
    /// Why, starting with the cause: `disk full: …`, `the catalog is lost: …`, `the state directory …
    /// is on a read-only file system`.
    public var readOnlyReason: String?
    /// Stored objects known to be damaged (found at start-up, by a read, or by `verify`).
    public var damagedObjects: [DamagedObjectInfo]
    /// When `verify` last ran (absent: not since the daemon started).
    public var lastVerifiedAt: String?

    public init(readOnly: Bool, readOnlyReason: String?, damagedObjects: [DamagedObjectInfo], lastVerifiedAt: String?) {
        self.readOnly = readOnly
        self.readOnlyReason = readOnlyReason
        self.damagedObjects = damagedObjects
        self.lastVerifiedAt = lastVerifiedAt
    }
}
