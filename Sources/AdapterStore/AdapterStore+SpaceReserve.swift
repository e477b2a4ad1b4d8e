import Foundation
import Glibc

/// A file of zeros kept in the state directory so that, when the disk fills up, adapterd can still
/// undo a half-done change (an install whose generation could not be written) or clean up at start:
/// SQLite needs a few pages of free space even to delete rows. Released only for such an undo, then
/// re-created before the next change (`prepareForChange()`); while it cannot be, the store refuses
/// changes (read-only: disk full), so a second and third full disk find it in place or change nothing.
extension AdapterStore {
    /// Bytes held back: far more than an undo's few catalog pages.
    static let spaceReserveBytes = 1 << 20

    /// Creates the reserve file if it is missing (best effort: on a full disk it is simply not there).
    public func ensureSpaceReserve() {
        let path = layout.reserve
        if let status = try? FileSystem.status(path) {
            guard status.isRegularFile else { return }   // a planted link or directory is left alone
            if status.size == Self.spaceReserveBytes { return }
            unlink(path)   // cut short by a crash while it was written
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let zeros = [UInt8](repeating: 0, count: 64 * 1024)
        var written = 0
        var ok = true
        while written < Self.spaceReserveBytes && ok {
            let n = zeros.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { ok = false } else { written += n }
        }
        ok = ok && fsync(fd) == 0
        Glibc.close(fd)
        if !ok { unlink(path) }   // a partial reserve would only hide how full the disk is
    }

    /// Why changes must wait for space, nil when the reserve is in place (or, unless `requireReserve`,
    /// there is room to put it back before the next change).
    func spaceReserveProblem(requireReserve: Bool = false) -> String? {
        if let status = try? FileSystem.status(layout.reserve) {
            if status.isRegularFile && status.size == Self.spaceReserveBytes { return nil }
            if !status.isRegularFile {
                return "\(layout.reserve), the space reserve, is \(status.typeDescription); adapterd neither follows nor "
                    + "removes it, and refuses changes until it is removed"
            }
        }
        let free = FileSystem.space(of: layout.root).freeBytes
        if !requireReserve, hasRoomForReserve { return nil }
        return "disk full: adapterd keeps \(Self.spaceReserveBytes / 1024) KiB in reserve (\(layout.reserve)) to undo a change "
            + "that fails for lack of space, and there is no room to put it back"
            + (free.map { " (\($0 / 1024) KiB free)" } ?? "")
            + "; changes are refused until there is: free space on the file system of \(layout.root)"
    }

    /// Whether the file system has room to put the reserve back (and a little more).
    var hasRoomForReserve: Bool {
        guard let free = FileSystem.space(of: layout.root).freeBytes else { return false }
        return free >= Self.spaceReserveBytes + 64 * 1024
    }

    /// Whether the reserve file is in place (whole).
    public var hasSpaceReserve: Bool {
        guard let status = try? FileSystem.status(layout.reserve) else { return false }
        return status.isRegularFile && status.size == Self.spaceReserveBytes
    }

    /// Deletes the reserve file, freeing its space for an undo. Returns false when there was none.
    @discardableResult
    public func releaseSpaceReserve() -> Bool {
        guard let status = try? FileSystem.status(layout.reserve), status.isRegularFile else { return false }
        return unlink(layout.reserve) == 0
    }
}
