import AdapterCore

/// An error of the adapter store, with a message a user can act on.
///
/// The `code` says what kind of failure it is (stable, for mapping to protocol error codes);
/// the `message` says what happened to which thing.
public typealias StoreError = CodedError<StoreErrorCode>

/// The kind of failure.
public enum StoreErrorCode: String, Codable, ErrorCode {
    /// The state directory is a symbolic link, not a directory, owned by another user, or unusable.
    case unsafeStateDirectory
    /// Another process has the state directory open.
    case stateDirectoryInUse
    /// A symbolic link (or other unexpected file type) was found where the store keeps its own files.
    case symlinkRefused
    /// A task name (or other name) breaks the naming rules.
    case invalidName
    /// A value handed to the store is out of range or malformed.
    case invalidArgument
    /// A stored object is missing.
    case objectMissing
    /// A stored object's content does not hash to its name (corruption).
    case digestMismatch
    /// No task has that name.
    case taskNotFound
    /// No generation has that id, or it is not in the state the operation needs.
    case generationNotFound
    /// The generation is not being built (already current, retired or abandoned).
    case generationNotBuilding
    /// A generation would use more bytes than its budget.
    case overBudget
    /// A generation's plan refers to a task version that is no longer installed.
    case planOutdated
    /// The catalog was written by a newer adapterd.
    case schemaTooNew
    /// The store was closed.
    case closed
    /// A file-system call failed.
    case io
    /// SQLite reported an error.
    case database
    /// The catalog is missing (or holds nothing) while the state directory holds objects: opening
    /// would start empty and collect them all as garbage, so the store refuses to open.
    case catalogMissing
    /// The catalog file was deleted or replaced while the store had it open: changes are refused
    /// (they would be lost at the next start).
    case catalogLost
    /// The store cannot change anything: its file system is read-only, or the disk is full and the
    /// space reserve cannot be put back.
    case readOnly
    /// A write failed for lack of space (ENOSPC, EDQUOT, SQLITE_FULL).
    case diskFull
}
