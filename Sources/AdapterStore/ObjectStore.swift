import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The content-addressed blob store under `objects/`: each blob lives at `objects/<ab>/<abcd…>`,
/// named by its SHA-256, written once and never modified.
struct ObjectStore: Sendable {
    let layout: StateLayout
    /// Objects known to be damaged; a put of the right bytes repairs one (and clears it here).
    let damage: DamageRegistry

    /// What `inspect` found.
    enum Condition {
        case intact(bytes: Int)
        case missing
        /// Not what its name says; `inode` identifies the file inspected (for setting it aside).
        case damaged(problem: String, inode: UInt64)
    }

    func path(for digest: ContentDigest) -> String {
        layout.objects + "/" + digest.prefix + "/" + digest.hex
    }

    /// Stores `data` crash-safely and returns its digest.
    ///
    /// The bytes go to a fresh file in tmp/, which is fsynced, read back and verified against the
    /// digest, made read-only, renamed into place, and then the object's directory is fsynced. A crash
    /// at any point leaves either no object or the complete one (plus a tmp file removed at next open).
    /// An object already present (and verified: it hashes to its name) is success without rewriting it;
    /// a damaged one is replaced. `knownDigest`, the caller's `ContentDigest.of(data)` (so that large
    /// objects are not hashed twice), is checked as well: data that is not what it names is refused with
    /// `.digestMismatch` (by the read-back of the new object, or by comparison with the one present).
    func put(_ data: Data, digest knownDigest: ContentDigest? = nil) throws -> ContentDigest {
        let digest = knownDigest ?? ContentDigest.of(data)
        let fanOut = layout.objects + "/" + digest.prefix
        let finalPath = fanOut + "/" + digest.hex
        if let existing = try FileSystem.status(finalPath) {
            if existing.isRegularFile && existing.size == data.count,
               let present = try? readFile(finalPath), ContentDigest.of(present) == digest {
                guard knownDigest == nil || present == data else {
                    throw StoreError(.digestMismatch, "the \(data.count) bytes to store as \(digest) are not that object")
                }
                damage.clear(digest)
                return digest
            }
            if existing.isDirectory {
                throw StoreError(.io, "\(finalPath) is a directory where an object belongs")
            }
            // A truncated or corrupted object, or a planted link: replaced below by rename, which never
            // follows a link.
        }
        if try FileSystem.status(fanOut) == nil {
            try FileSystem.ensureDirectory(fanOut)
            try FileSystem.syncDirectory(layout.objects)
        } else {
            try FileSystem.requireOwnDirectory(fanOut)
        }

        let tmpPath = layout.tmp + "/" + digest.hex + "." + UUID().uuidString.lowercased() + ".tmp"
        var renamed = false
        defer { if !renamed { try? FileSystem.removeFile(tmpPath) } }

        let fd = try FileSystem.createExclusively(tmpPath)
        do {
            defer { FileSystem.closeFile(fd) }
            try FileSystem.writeAll(fd, data, path: tmpPath)
            if fchmod(fd, 0o400) != 0 { throw FileSystem.ioError("make read-only", tmpPath) }
            try FileSystem.sync(fd, path: tmpPath)
        }
        let written = try readFile(tmpPath)
        let writtenDigest = ContentDigest.of(written)
        guard written.count == data.count, writtenDigest == digest else {
            throw StoreError(.digestMismatch,
                             "the object written to \(tmpPath) reads back as \(written.count) bytes with digest "
                                + "\(writtenDigest) instead of \(data.count) bytes with \(digest)")
        }
        do {
            try FileSystem.renameItem(tmpPath, to: finalPath)
        } catch {
            // The fan-out directory vanished under us (removed by hand?): recreate it and try once more.
            try FileSystem.ensureDirectory(fanOut)
            try FileSystem.syncDirectory(layout.objects)
            try FileSystem.renameItem(tmpPath, to: finalPath)
        }
        renamed = true
        try FileSystem.syncDirectory(fanOut)
        damage.clear(digest)   // written and verified: whole again if it was damaged
        return digest
    }

    /// Checks an object: present, a regular file, of the recorded size (when given), and hashing to
    /// its name (read in pieces, never whole into memory). A file that cannot be read is damaged too.
    func inspect(_ digest: ContentDigest, recordedBytes: Int?) throws -> Condition {
        let path = path(for: digest)
        guard let info = try FileSystem.status(path) else { return .missing }
        guard info.isRegularFile else {
            return .damaged(problem: "\(path) is \(info.typeDescription), not a stored object", inode: info.inode)
        }
        if let recordedBytes, info.size != recordedBytes {
            return .damaged(problem: "it has \(info.size) bytes; the catalog records \(recordedBytes)", inode: info.inode)
        }
        let fd: Int32
        do {
            fd = try FileSystem.openForReading(path)
        } catch let error as StoreError where error.code == .objectMissing {
            return .missing
        }
        defer { FileSystem.closeFile(fd) }
        do {
            let (actual, bytes) = try ContentDigest.of(fileDescriptor: fd, path: path)
            guard actual == digest else {
                return .damaged(problem: "its \(bytes) bytes hash to \(actual), not to its name", inode: info.inode)
            }
            return .intact(bytes: bytes)
        } catch let error as StoreError {
            return .damaged(problem: "it cannot be read: \(error.message)", inode: info.inode)
        }
    }

    /// Moves a damaged object to `damaged/<sha256>.<time>` if the file at its name is still the one
    /// inspected (`inode`: a put may have replaced it with the right bytes meanwhile). Returns where
    /// it went, nil if it was not moved.
    func setAside(_ digest: ContentDigest, inode: UInt64) throws -> String? {
        let path = path(for: digest)
        guard let info = try FileSystem.status(path), info.inode == inode else { return nil }
        try FileSystem.ensureDirectory(layout.damaged)
        let stamp = Date().formatted(Date.ISO8601FormatStyle()).replacingOccurrences(of: ":", with: "-")
        var target = layout.damaged + "/" + digest.hex + "." + stamp
        var counter = 2
        while try FileSystem.status(target) != nil {
            target = layout.damaged + "/" + digest.hex + "." + stamp + "-\(counter)"
            counter += 1
        }
        try FileSystem.renameItem(path, to: target)
        try FileSystem.syncDirectory(layout.objects + "/" + digest.prefix)
        try FileSystem.syncDirectory(layout.damaged)
        return target
    }

    /// The newest file set aside for `digest`, if any.
    func setAsideCopy(of digest: ContentDigest) -> String? {
        guard let names = try? FileSystem.entries(of: layout.damaged) else { return nil }
        return names.filter { $0.hasPrefix(digest.hex + ".") }.sorted().last.map { layout.damaged + "/" + $0 }
    }

    /// Reads an object and verifies that it hashes to its name.
    func read(_ digest: ContentDigest) throws -> Data {
        let path = path(for: digest)
        // O_NOFOLLOW guards only the last component; the fan-out directory is checked here.
        let fanOut = layout.objects + "/" + digest.prefix
        if let info = try FileSystem.status(fanOut), !info.isDirectory {
            throw StoreError(.symlinkRefused, "\(fanOut) is \(info.typeDescription), not a directory; refusing to read through it")
        }
        let data: Data
        do {
            data = try readFile(path)
        } catch let error as StoreError where error.code == .objectMissing {
            throw StoreError(.objectMissing, "object \(digest) is not in the store")
        }
        let actual = ContentDigest.of(data)
        guard actual == digest else {
            throw StoreError(.digestMismatch,
                             "object \(digest) is corrupted: its \(data.count) bytes hash to \(actual)")
        }
        return data
    }

    /// Size of the object on disk, nil if absent; throws on a link or other non-regular file.
    func size(of digest: ContentDigest) throws -> Int? {
        let path = path(for: digest)
        guard let info = try FileSystem.status(path) else { return nil }
        guard info.isRegularFile else {
            throw StoreError(.symlinkRefused, "\(path) is \(info.typeDescription), not a stored object")
        }
        return info.size
    }

    /// Every entry under objects/: valid objects with their digests, and junk (anything misnamed,
    /// misplaced, or not a regular file) by path.
    func inventory() throws -> (objects: [(digest: ContentDigest, path: String, size: Int)], junk: [String]) {
        var objects: [(ContentDigest, String, Int)] = []
        var junk: [String] = []
        for fanOutName in try FileSystem.entries(of: layout.objects) {
            let fanOut = layout.objects + "/" + fanOutName
            guard let info = try FileSystem.status(fanOut) else { continue }
            let fanOutValid = info.isDirectory && fanOutName.utf8.count == 2
                && ContentDigest(hex: fanOutName + String(repeating: "0", count: 62)) != nil
                && fanOutName == fanOutName.lowercased()
            guard fanOutValid else {
                junk.append(fanOut)
                continue
            }
            for name in try FileSystem.entries(of: fanOut) {
                let path = fanOut + "/" + name
                guard let digest = ContentDigest(hex: name), digest.hex == name, digest.prefix == fanOutName,
                      let entry = try FileSystem.status(path), entry.isRegularFile
                else {
                    junk.append(path)
                    continue
                }
                objects.append((digest, path, entry.size))
            }
        }
        return (objects.map { (digest: $0.0, path: $0.1, size: $0.2) }, junk)
    }

    /// Removes empty fan-out directories (best effort).
    func pruneEmptyDirectories() {
        guard let names = try? FileSystem.entries(of: layout.objects) else { return }
        for name in names {
            _ = rmdir(layout.objects + "/" + name)
        }
    }

    private func readFile(_ path: String) throws -> Data {
        let fd = try FileSystem.openForReading(path)
        defer { FileSystem.closeFile(fd) }
        return try FileSystem.readAll(fd, path: path)
    }
}
