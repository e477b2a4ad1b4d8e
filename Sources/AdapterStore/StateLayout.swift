import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the store keeps things inside its state directory.
///
/// ```
/// <state>/                 0700, owned by the daemon's user, never a symbolic link
///   lock                   flock()ed while a store has the directory open
///   catalog.sqlite         the catalog (+ -wal, -shm)
///   objects/ab/abcd…       content-addressed blobs, named by SHA-256, read-only (0400)
///   generations/<g>/<s>/   for the current generation g, one PEFT directory per served adapter s:
///                          adapter_config.json and adapter_model.safetensors, hard links to objects/
///   tmp/                   files being written; emptied at open
///   reserve                1 MiB held back to undo a change on a full disk (AdapterStore+SpaceReserve)
///   catalog.sqlite.rescued a copy of the catalog saved when catalog.sqlite was deleted while the
///                          store had it open; restored by the next open (AdapterStore+CatalogRecovery)
///   damaged/<sha256>.<t>   objects whose bytes did not hash to their name, set aside (never deleted)
///   lost+found/<t>/        what a catalog recovery moved aside: objects no catalog accounts for
/// ```
/// The objects are the truth; generation directories are a convenience view (hard links, so they
/// cost no extra bytes) that is rebuilt at open if missing, and removed once the generation retires.
struct StateLayout: Sendable {
    let root: String
    var lockFile: String { root + "/lock" }
    /// Space held back for undoing a change when the disk is full (`AdapterStore+SpaceReserve`).
    var reserve: String { root + "/reserve" }
    var catalog: String { root + "/catalog.sqlite" }
    var objects: String { root + "/objects" }
    var generations: String { root + "/generations" }
    var tmp: String { root + "/tmp" }
    /// The copy of the catalog saved when catalog.sqlite was deleted while the store had it open.
    var catalogRescue: String { catalog + ".rescued" }
    /// Damaged objects, set aside.
    var damaged: String { root + "/damaged" }
    /// What a catalog recovery moved aside, one directory per recovery.
    var lostAndFound: String { root + "/lost+found" }

    func generationDirectory(_ generationID: Int64) -> String { generations + "/\(generationID)" }

    func servedDirectory(generationID: Int64, servedAdapterID: Int64) -> String {
        generationDirectory(generationID) + "/\(servedAdapterID)"
    }

    /// Checks (or creates) the state directory and its sub-directories.
    ///
    /// A missing state directory is created with mode 0700 (its parents with the usual mode). An
    /// existing one must be a real directory owned by the effective user; it is then made 0700.
    static func prepare(_ url: URL, owner: UInt32 = FileSystem.effectiveUID) throws -> StateLayout {
        let root = url.standardizedFileURL.path
        guard !root.isEmpty, root != "/" else {
            throw StoreError(.unsafeStateDirectory, "'\(root)' cannot be a state directory")
        }
        if try FileSystem.status(root) == nil {
            let parent = (root as NSString).deletingLastPathComponent
            if try FileSystem.status(parent) == nil {
                do {
                    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
                } catch {
                    throw StoreError(.unsafeStateDirectory,
                                     "cannot create \(parent) for the state directory: \(error.localizedDescription)")
                }
            }
            if mkdir(root, 0o700) != 0 && errno != EEXIST {
                throw StoreError(.unsafeStateDirectory,
                                 "cannot create the state directory \(root): \(FileSystem.errnoText())")
            }
        }
        guard let info = try FileSystem.status(root) else {
            throw StoreError(.unsafeStateDirectory, "the state directory \(root) vanished while opening it")
        }
        if info.isSymbolicLink {
            throw StoreError(.unsafeStateDirectory,
                             "the state directory \(root) is a symbolic link; give adapterd the real directory")
        }
        guard info.isDirectory else {
            throw StoreError(.unsafeStateDirectory, "the state directory \(root) is \(info.typeDescription)")
        }
        guard info.ownerUID == owner else {
            throw StoreError(.unsafeStateDirectory,
                             "the state directory \(root) is owned by uid \(info.ownerUID) but adapterd runs as uid "
                                + "\(owner); refusing to use it")
        }
        if info.permissions != 0o700 && !FileSystem.space(of: root).readOnly {
            // (On a read-only file system nothing can be changed, the mode included; the store opens read-only.)
            try FileSystem.setPermissions(root, 0o700)
        }
        let layout = StateLayout(root: root)
        for directory in [layout.objects, layout.generations, layout.tmp] {
            try FileSystem.ensureDirectory(directory)
        }
        for file in [layout.catalog, layout.catalog + "-wal", layout.catalog + "-shm", layout.lockFile, layout.catalogRescue] {
            if let status = try FileSystem.status(file), !status.isRegularFile {
                throw StoreError(.symlinkRefused,
                                 "\(file) is \(status.typeDescription), not a regular file; refusing to use it")
            }
        }
        return layout
    }
}

/// An exclusive advisory lock on `<state>/lock`, held while a store has the directory open, so two
/// daemons never clean up each other's files in progress.
final class StateDirectoryLock: @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32

    init(path: String) throws {
        var fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd < 0 && errno == EROFS {
            // A read-only file system: flock works on a descriptor opened for reading too.
            fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        }
        if fd < 0 {
            if errno == ELOOP {
                throw StoreError(.symlinkRefused, "\(path) is a symbolic link; refusing to use it")
            }
            throw FileSystem.ioError("open", path)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw StoreError(.stateDirectoryInUse,
                                 "the state directory \((path as NSString).deletingLastPathComponent) is in use by another adapterd (or another open store)")
            }
            throw FileSystem.ioError("lock", path, code)
        }
        self.fd = fd
    }

    func release() {
        lock.lock()
        defer { lock.unlock() }
        if fd >= 0 {
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
