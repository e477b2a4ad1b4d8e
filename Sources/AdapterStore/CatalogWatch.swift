import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Notices when catalog.sqlite is deleted or replaced while the store has it open.
///
/// SQLite keeps working on a deleted file (its descriptors hold the inode), so nothing fails: every
/// change after the deletion would be acknowledged and then lost at the next start, which would find
/// no catalog. The watch holds its own descriptor of the file it opened and compares: no link left
/// (`st_nlink == 0`), no file at the path, or another file there. Once lost, it stays lost for the
/// life of the store (the open connections keep using the old file).
final class CatalogWatch: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var fd: Int32
    private let device: UInt64
    private let inode: UInt64
    private var lost: String?

    /// Watches the catalog file now at `path`.
    init(path: String) throws {
        let fd = try FileSystem.openForReading(path)
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = FileSystem.ioError("inspect", path)
            FileSystem.closeFile(fd)
            throw error
        }
        self.path = path
        self.fd = fd
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }

    deinit { close() }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            FileSystem.closeFile(fd)
            fd = -1
        }
    }

    /// Nil while catalog.sqlite is the file the store opened; otherwise what happened to it (latched).
    /// Two system calls (fstat, lstat): cheap enough for every change and every `status`.
    func check() -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let lost { return lost }
        guard fd >= 0 else { return nil }
        var own = stat()
        if fstat(fd, &own) == 0 && own.st_nlink == 0 {
            lost = "\(path) was deleted while adapterd had it open"
            return lost
        }
        var current = stat()
        if lstat(path, &current) != 0 {
            if errno == ENOENT { lost = "\(path) was deleted (or renamed) while adapterd had it open" }
            return lost
        }
        if UInt64(current.st_dev) != device || UInt64(current.st_ino) != inode {
            lost = "\(path) was replaced by another file while adapterd had the original open"
        }
        return lost
    }
}
