import Foundation
import Glibc

/// A file of zeros kept in the state directory so that, when the disk fills up, adapterd can still
/// undo a half-done change (an install whose generation could not be written) or clean up at start:
/// SQLite needs a few pages of free space even to delete rows. Released only for such an undo, then
/// re-created as soon as there is room again.
extension AdapterStore {
    /// Bytes held back: far more than an undo's few catalog pages.
    static let spaceReserveBytes = 1 << 20

    /// Creates the reserve file if it is missing (best effort: on a full disk it is simply not there).
    public func ensureSpaceReserve() {
        let path = layout.reserve
        if let status = try? FileSystem.status(path), status.isRegularFile { return }
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

    /// Deletes the reserve file, freeing its space for an undo. Returns false when there was none.
    @discardableResult
    public func releaseSpaceReserve() -> Bool {
        guard let status = try? FileSystem.status(layout.reserve), status.isRegularFile else { return false }
        return unlink(layout.reserve) == 0
    }
}
