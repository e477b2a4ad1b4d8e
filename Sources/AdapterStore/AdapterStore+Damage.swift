import Foundation

/// Damaged objects: found, recorded, set aside, repaired.
///
/// An object is damaged when its bytes no longer hash to its name (a flipped bit), its size is not
/// the recorded one, or it is missing. Found three ways: `open` checks the size of every referenced
/// object (cheap), every `read` verifies the hash of what it returns, and `verify` hashes every
/// referenced object. A damaged object is moved to `damaged/<sha256>.<time>` (never deleted), so it
/// can no longer be linked, served or merged from under a name its bytes do not have, and stays
/// known across restarts (a referenced object missing from objects/ is damage at the next `open`).
/// Putting the right bytes again (installing the same adapter again, or a re-plan writing the same
/// merged adapter) repairs it.
extension AdapterStore {
    /// Every object known to be damaged, by digest.
    public func damagedObjects() -> [DamagedObject] { damage.all }

    /// The digests of `damagedObjects()`.
    public func damagedDigests() -> Set<ContentDigest> { damage.digests }

    /// Moves whenever the set of damaged objects changes (to tell whether what was derived from it is current).
    public var damageVersion: Int { damage.version }

    /// Hashes every object the catalog references: damaged ones are recorded and set aside, and ones
    /// found whole again (or no longer referenced) are forgotten. Reads every referenced byte; call it
    /// serialised with changes (a generation switch collects objects as garbage).
    /// - Parameter progress: Called after each object with (objects done, objects in all).
    public func verify(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> VerifyReport {
        try checkOpen()
        let referenced = try reading("listing the stored objects") { try Self.referencedObjects($0) }
        var bytes = 0
        for (index, (digest, size)) in referenced.sorted(by: { $0.key < $1.key }).enumerated() {
            try checkOpen()
            bytes += check(digest, recordedBytes: size, hashing: true)
            progress?(index + 1, referenced.count)
        }
        for known in damage.all where referenced[known.digest] == nil {
            damage.clear(known.digest)
        }
        return VerifyReport(checkedObjects: referenced.count, checkedBytes: bytes, damaged: damage.all)
    }

    /// The cheap check of `open`: every referenced object present with its recorded size.
    func checkObjectSizes() {
        guard let referenced = try? reading("listing the stored objects", { try Self.referencedObjects($0) }) else { return }
        for (digest, size) in referenced {
            _ = check(digest, recordedBytes: size, hashing: false)
        }
    }

    /// Records an object a read found damaged (hashing it again, then setting it aside).
    func noteDamaged(_ digest: ContentDigest) {
        guard case .damaged(let problem, let inode)? = try? objects.inspect(digest, recordedBytes: nil) else { return }
        record(digest, recordedBytes: nil, problem: problem, inode: inode)
    }

    /// Checks one object (its size, and its hash when `hashing`) and records what is wrong; returns
    /// the bytes read.
    private func check(_ digest: ContentDigest, recordedBytes: Int, hashing: Bool) -> Int {
        let condition: ObjectStore.Condition
        if hashing {
            do {
                condition = try objects.inspect(digest, recordedBytes: recordedBytes)
            } catch {
                damage.record(DamagedObject(digest: digest, recordedBytes: recordedBytes,
                                            problem: "it cannot be inspected: \(error)", setAsideAs: nil, detectedAt: Date()))
                return 0
            }
        } else {
            let path = objects.path(for: digest)
            if let info = try? FileSystem.status(path) {
                if !info.isRegularFile {
                    condition = .damaged(problem: "\(path) is \(info.typeDescription), not a stored object", inode: info.inode)
                } else if info.size != recordedBytes {
                    condition = .damaged(problem: "it has \(info.size) bytes; the catalog records \(recordedBytes)",
                                         inode: info.inode)
                } else {
                    condition = .intact(bytes: info.size)
                }
            } else {
                condition = .missing
            }
        }
        switch condition {
        case .intact(let bytes):
            if hashing { damage.clear(digest) }   // (a right size does not undo a wrong hash)
            return bytes
        case .missing:
            let copy = objects.setAsideCopy(of: digest)
            let problem = "it is missing from \(layout.objects)"
                + (copy.map { "; its damaged bytes were set aside as \($0)" } ?? "")
            damage.record(DamagedObject(digest: digest, recordedBytes: recordedBytes, problem: problem,
                                        setAsideAs: copy, detectedAt: Date()))
            return 0
        case .damaged(let problem, let inode):
            record(digest, recordedBytes: recordedBytes, problem: problem, inode: inode)
            return 0
        }
    }

    private func record(_ digest: ContentDigest, recordedBytes: Int?, problem: String, inode: UInt64) {
        var aside: String?
        if openedReadOnlyBecause == nil {
            aside = (try? objects.setAside(digest, inode: inode)) ?? nil
        }
        damage.record(DamagedObject(digest: digest, recordedBytes: recordedBytes, problem: problem,
                                    setAsideAs: aside, detectedAt: Date()))
    }
}
