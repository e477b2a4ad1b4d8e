import Foundation

/// Digests that an operation in flight has written to objects/ but not yet recorded in the catalog.
///
/// Garbage collection holds this set's lock for its whole pass (reading the catalog's references,
/// then deleting), and operations pin before they write an object and unpin only after their
/// transaction committed or failed. So a collection either sees the committed reference or the pin,
/// and never deletes an object an operation is about to reference.
final class PinSet: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [ContentDigest: Int] = [:]

    func pin(_ digests: [ContentDigest]) {
        lock.lock()
        defer { lock.unlock() }
        for digest in digests { counts[digest, default: 0] += 1 }
    }

    func unpin(_ digests: [ContentDigest]) {
        lock.lock()
        defer { lock.unlock() }
        for digest in digests {
            if let count = counts[digest], count > 1 { counts[digest] = count - 1 } else { counts[digest] = nil }
        }
    }

    func withPinned<T>(_ digests: [ContentDigest], _ body: () throws -> T) rethrows -> T {
        pin(digests)
        defer { unpin(digests) }
        return try body()
    }

    /// Runs `body` with the pinned set while no pin or unpin can happen.
    func whileFrozen<T>(_ body: (Set<ContentDigest>) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(Set(counts.keys))
    }
}
