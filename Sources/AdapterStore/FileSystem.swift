import AdapterCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What `lstat` says about a path (never following a final symbolic link).
struct FileStatus: Sendable {
    let mode: UInt32
    let ownerUID: UInt32
    let size: Int
    let inode: UInt64
    let device: UInt64

    var fileType: UInt32 { mode & 0o170000 }
    var isDirectory: Bool { fileType == 0o040000 }
    var isRegularFile: Bool { fileType == 0o100000 }
    var isSymbolicLink: Bool { fileType == 0o120000 }
    var permissions: UInt32 { mode & 0o7777 }

    var typeDescription: String {
        switch fileType {
        case 0o040000: "a directory"
        case 0o100000: "a regular file"
        case 0o120000: "a symbolic link"
        case 0o140000: "a socket"
        case 0o010000: "a FIFO"
        default: "a special file"
        }
    }
}

/// Thin, error-checked wrappers over the POSIX calls the store needs. Every open uses O_NOFOLLOW and
/// O_CLOEXEC; every error becomes a `StoreError` naming the path.
enum FileSystem {
    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// The error of a failed call; one that failed for lack of space is `.diskFull` and says so first.
    static func ioError(_ what: String, _ path: String, _ code: Int32 = errno) -> StoreError {
        if code == ENOSPC || code == EDQUOT {
            return StoreError(.diskFull, "disk full: cannot \(what) \(path): \(errnoText(code))")
        }
        return StoreError(.io, "cannot \(what) \(path): \(errnoText(code))")
    }

    /// Bytes an unprivileged writer may still use on the file system of `path` (nil if unknown), and
    /// whether that file system is mounted read-only.
    static func space(of path: String) -> (freeBytes: Int?, readOnly: Bool) {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return (nil, false) }
        let (free, overflow) = Int(clamping: info.f_bavail).multipliedReportingOverflow(by: Int(clamping: info.f_frsize))
        return (overflow ? Int.max : free, (UInt(info.f_flag) & UInt(ST_RDONLY)) != 0)
    }

    /// `lstat(path)`, or nil if nothing is there.
    static func status(_ path: String) throws -> FileStatus? {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw ioError("inspect", path)
        }
        return FileStatus(
            mode: UInt32(info.st_mode), ownerUID: UInt32(info.st_uid), size: Int(info.st_size),
            inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
    }

    /// Opens an existing file for reading without following a symbolic link.
    static func openForReading(_ path: String) throws -> Int32 {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        if fd < 0 {
            if errno == ELOOP {
                throw StoreError(.symlinkRefused, "\(path) is a symbolic link; adapterd does not follow links in its state directory")
            }
            if errno == ENOENT { throw StoreError(.objectMissing, "\(path) does not exist") }
            throw ioError("open", path)
        }
        return fd
    }

    /// Creates a new file (it must not exist) for writing, without following a symbolic link.
    static func createExclusively(_ path: String, permissions: mode_t = 0o600) throws -> Int32 {
        let fd = retryingOnInterrupt {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
        }
        if fd < 0 { throw ioError("create", path) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard var pointer = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                let written = write(fd, pointer, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ioError("write", path)
                }
                if written == 0 { throw StoreError(.io, "cannot write \(path): the write made no progress") }
                remaining -= written
                pointer += written
            }
        }
    }

    static func readAll(_ fd: Int32, path: String) throws -> Data {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("inspect", path) }
        do throws(RegularFile.ReadToEndFailure) {
            return try RegularFile.readToEnd(fd, expectedBytes: Int(info.st_size))
        } catch {
            switch error {
            case .system(let code): throw ioError("read", path, code)
            case .noMemory(let bytes): throw StoreError(.io, "cannot read \(path): no memory for \(bytes) bytes")
            case .tooLarge: throw StoreError(.io, "cannot read \(path): larger than this process can hold")
            }
        }
    }

    static func sync(_ fd: Int32, path: String) throws {
        if fsync(fd) != 0 { throw ioError("fsync", path) }
    }

    static func closeFile(_ fd: Int32) { _ = close(fd) }

    /// fsyncs a directory so that entries created, renamed or removed in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = retryingOnInterrupt { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if fd < 0 { throw ioError("open directory", path) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw ioError("fsync directory", path) }
    }

    /// Makes a directory with the given permissions; succeeds if a real directory is already there.
    /// Refuses a symbolic link or another file type in its place, and a directory owned by someone else.
    static func ensureDirectory(_ path: String, permissions: mode_t = 0o700) throws {
        if mkdir(path, permissions) != 0 && errno != EEXIST {
            throw ioError("create directory", path)
        }
        try requireOwnDirectory(path)
    }

    /// Throws unless `path` is a real directory (not a link) owned by the effective user.
    static func requireOwnDirectory(_ path: String) throws {
        guard let info = try status(path) else {
            throw StoreError(.unsafeStateDirectory, "\(path) does not exist")
        }
        if info.isSymbolicLink {
            throw StoreError(.symlinkRefused, "\(path) is a symbolic link; adapterd does not follow links in its state directory")
        }
        guard info.isDirectory else {
            throw StoreError(.unsafeStateDirectory, "\(path) is \(info.typeDescription), not a directory")
        }
        let me = UInt32(geteuid())
        guard info.ownerUID == me else {
            throw StoreError(.unsafeStateDirectory,
                             "\(path) is owned by uid \(info.ownerUID) but adapterd runs as uid \(me); refusing to use it")
        }
    }

    static func renameItem(_ from: String, to: String) throws {
        if rename(from, to) != 0 { throw ioError("rename \(from) to", to) }
    }

    static func hardLink(_ existing: String, to newPath: String) -> Int32 {
        link(existing, newPath) == 0 ? 0 : errno
    }

    /// Removes a file or an empty directory entry without following links; missing is fine.
    static func removeFile(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw ioError("remove", path) }
    }

    /// Removes a file or a whole directory tree without following symbolic links; missing is fine.
    static func removeTree(_ path: String) throws {
        guard let info = try status(path) else { return }
        if info.isDirectory {
            for name in try entries(of: path) {
                try removeTree(path + "/" + name)
            }
            if rmdir(path) != 0 && errno != ENOENT { throw ioError("remove directory", path) }
        } else {
            try removeFile(path)
        }
    }

    /// Names in a directory (without "." and ".."); empty if it does not exist.
    static func entries(of path: String) throws -> [String] {
        guard let info = try status(path), info.isDirectory else { return [] }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw StoreError(.io, "cannot list \(path): \(error.localizedDescription)")
        }
    }

    static func setPermissions(_ path: String, _ permissions: mode_t) throws {
        if chmod(path, permissions) != 0 { throw ioError("change permissions of", path) }
    }

    static var effectiveUID: UInt32 { UInt32(geteuid()) }

    private static func retryingOnInterrupt(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }
}
