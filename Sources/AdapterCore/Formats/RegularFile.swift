import Foundation
import Glibc

/// Why a file a user named could not be read: it is missing, not a regular file (a FIFO, a device, a
/// socket, a directory), larger than the limit, or the system refused to open or read it.
public struct RegularFileError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Nothing is at the path.
        case missing
        /// The path names a FIFO, a character or block device, a socket or a directory.
        case notRegularFile
        /// The file holds more bytes than the caller accepts.
        case tooLarge
        /// open, read or mmap failed (permissions, I/O error, …).
        case unreadable
    }

    public let code: Code
    public let path: String
    /// A sentence naming the path and the problem.
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { message }
}

/// Reads files that users name — adapter files, examples, detector models, base-model files — only
/// if they are regular files, without blocking and without reading forever.
///
/// The path is `stat`ed first, so a FIFO, device, socket or directory is refused with an error that
/// says what it is, without being opened (opening a FIFO waits for a writer; /dev/zero never ends).
/// The file is then opened with O_NONBLOCK and checked again on the descriptor with `fstat` (the path
/// may have been replaced in between), its size is bounded, and exactly that descriptor is read or
/// memory-mapped. Symbolic links are followed: these are the user's own paths.
public enum RegularFile {
    /// The whole file, read into memory; `maximumBytes` bounds it (a file that grows past the bound
    /// while being read is refused too).
    ///
    /// `observe`, when given, is called after each read(2) of at most `chunkBytes` with the bytes read so
    /// far and the range just added, so that a caller can check them while they are still in the cache.
    public static func read(_ url: URL, maximumBytes: Int, chunkBytes: Int = .max,
                            observe: ((_ sizeFromFstat: Int, UnsafeRawBufferPointer, Range<Int>) -> Void)? = nil)
        throws(RegularFileError) -> Data {
        let path = url.path
        let (fd, size) = try open(path, maximumBytes: maximumBytes)
        defer { _ = Glibc.close(fd) }
        let expected = min(size, maximumBytes)
        do throws(ReadToEndFailure) {
            return try readToEnd(fd, expectedBytes: expected, maximumBytes: maximumBytes, chunkBytes: chunkBytes,
                                 observe: observe.map { observe in { observe(expected, $0, $1) } })
        } catch {
            switch error {
            case .tooLarge: throw tooLarge(path, size: nil, maximumBytes)
            case .noMemory(let bytes):
                throw RegularFileError(.unreadable, path: path, "cannot read '\(path)': no memory for \(bytes) bytes")
            case .system(let code):
                throw RegularFileError(.unreadable, path: path, "cannot read '\(path)': \(errnoText(code))")
            }
        }
    }

    /// Why `readToEnd` failed.
    public enum ReadToEndFailure: Error {
        /// More than `maximumBytes` bytes.
        case tooLarge
        /// A buffer of this many bytes could not be allocated.
        case noMemory(Int)
        /// read(2) failed with this errno.
        case system(Int32)
    }

    /// The bytes of `fd` from its offset to its end, at most `maximumBytes`: read straight into an
    /// uninitialised buffer one byte longer than `expectedBytes` (the size fstat gave), so that the end
    /// is seen without growing it, and grown only for a file longer than that. (Data(count:) zeroes its
    /// bytes first, and growing a Data past its bytes copies them: two more passes over a large file.)
    /// `observe` as in `read(_:maximumBytes:chunkBytes:observe:)`.
    public static func readToEnd(_ fd: Int32, expectedBytes: Int, maximumBytes: Int = .max - 1, chunkBytes: Int = .max,
                                 observe: ((UnsafeRawBufferPointer, Range<Int>) -> Void)? = nil)
        throws(ReadToEndFailure) -> Data {
        var capacity = max(0, expectedBytes) + 1
        guard var buffer = malloc(capacity) else { throw .noMemory(capacity) }
        var filled = 0
        while true {
            if filled == capacity {
                guard filled <= maximumBytes else { free(buffer); throw .tooLarge }
                capacity = min(maximumBytes + 1, max(capacity > Int.max / 2 ? Int.max : capacity * 2, 1 << 16))
                guard let grown = realloc(buffer, capacity) else { free(buffer); throw .noMemory(capacity) }
                buffer = grown
            }
            let n = Glibc.read(fd, buffer + filled, min(capacity - filled, max(chunkBytes, 1)))
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                free(buffer)
                throw .system(code)
            }
            if n == 0 { break }
            filled += n
            observe?(UnsafeRawBufferPointer(start: buffer, count: filled), (filled - n)..<filled)
        }
        guard filled <= maximumBytes else { free(buffer); throw .tooLarge }
        return Data(bytesNoCopy: buffer, count: filled, deallocator: .free)
    }

    /// The whole file, memory-mapped read-only (nothing is read until used); `maximumBytes` bounds it
    /// when given. The file must not be truncated by another process while the data is in use.
    public static func map(_ url: URL, maximumBytes: Int? = nil) throws(RegularFileError) -> Data {
        let path = url.path
        let (fd, size) = try open(path, maximumBytes: maximumBytes ?? Int.max)
        defer { _ = Glibc.close(fd) }
        guard size > 0 else { return Data() }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw RegularFileError(.unreadable, path: path, "cannot map '\(path)': \(errnoText())")
        }
        return Data(bytesNoCopy: base, count: size, deallocator: .custom { pointer, count in _ = munmap(pointer, count) })
    }

    /// What a file mode says the file is, for messages: "a FIFO (named pipe)", "a directory", ….
    public static func kind(ofMode mode: UInt32) -> String {
        switch mode & 0o170000 {
        case 0o100000: "a regular file"
        case 0o040000: "a directory"
        case 0o010000: "a FIFO (named pipe)"
        case 0o020000: "a character device"
        case 0o060000: "a block device"
        case 0o140000: "a socket"
        case 0o120000: "a symbolic link"
        default: "a special file"
        }
    }

    // MARK: - Internals

    /// Opens a regular file for reading; returns the descriptor and the size `fstat` reports.
    private static func open(_ path: String, maximumBytes: Int) throws(RegularFileError) -> (Int32, Int) {
        var before = stat()
        guard stat(path, &before) == 0 else { throw openError(path) }
        try requireRegular(path, mode: UInt32(before.st_mode))
        var fd: Int32
        repeat {
            fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw openError(path) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = RegularFileError(.unreadable, path: path, "cannot inspect '\(path)': \(errnoText())")
            _ = Glibc.close(fd)
            throw error
        }
        do {
            try requireRegular(path, mode: UInt32(info.st_mode))
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        let size = Int(info.st_size)
        guard size <= maximumBytes else {
            _ = Glibc.close(fd)
            throw tooLarge(path, size: size, maximumBytes)
        }
        return (fd, size)
    }

    private static func requireRegular(_ path: String, mode: UInt32) throws(RegularFileError) {
        guard mode & 0o170000 == 0o100000 else {
            throw RegularFileError(.notRegularFile, path: path, "'\(path)' is \(kind(ofMode: mode)), not a regular file")
        }
    }

    private static func openError(_ path: String) -> RegularFileError {
        let code = errno
        if code == ENOENT { return RegularFileError(.missing, path: path, "'\(path)' does not exist") }
        return RegularFileError(.unreadable, path: path, "cannot open '\(path)': \(errnoText(code))")
    }

    /// `size` nil: the file grew past the limit while being read.
    private static func tooLarge(_ path: String, size: Int?, _ limit: Int) -> RegularFileError {
        RegularFileError(.tooLarge, path: path, size.map { "'\(path)' is \($0) bytes; the limit is \(limit) bytes" }
                            ?? "'\(path)' is more than \(limit) bytes, the limit")
    }

    private static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
}
