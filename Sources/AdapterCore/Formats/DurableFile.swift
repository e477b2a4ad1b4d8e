import Foundation

import Glibc

/// Crash-safe file and directory writes: write to a temporary name in the destination's directory,
/// fsync, rename into place, fsync the directory.
public enum DurableFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `data` to `url` atomically (readers see the old file or the complete new one); with
    /// `permissions`, the file gets exactly those (not narrowed by the umask).
    public static func write(_ data: Data, to url: URL, permissions: mode_t? = nil) throws {
        let directory = url.deletingLastPathComponent()
        let temp = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try writeAndSync(data, to: temp, permissions: permissions)
            guard rename(temp.path, url.path) == 0 else { throw Failure(description: "rename: \(errnoText())") }
            try syncDirectory(directory)
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
    }

    /// Writes a new file and fsyncs it.
    static func writeAndSync(_ data: Data, to url: URL, permissions: mode_t? = nil) throws {
        // O_EXCL: a planted file or symlink at the temporary name is refused, never followed.
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "open '\(url.path)': \(errnoText())") }
        defer { close(fd) }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var written = 0
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "write '\(url.path)': \(errnoText())")
                }
                written += n
            }
        }
        if let permissions, fchmod(fd, permissions) != 0 {
            throw Failure(description: "chmod '\(url.path)': \(errnoText())")
        }
        guard fsync(fd) == 0 else { throw Failure(description: "fsync '\(url.path)': \(errnoText())") }
    }

    /// fsyncs a directory so a rename inside it is durable.
    static func syncDirectory(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open directory '\(url.path)': \(errnoText())") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(description: "fsync directory '\(url.path)': \(errnoText())") }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
