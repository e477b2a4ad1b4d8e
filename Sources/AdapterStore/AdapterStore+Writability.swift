import Foundation

/// Whether the store can change anything, and why not.
///
/// Three things stop changes: the store was opened read-only (read-only file system, or a disk too
/// full to finish opening), the catalog was deleted while open (`CatalogWatch`), or the disk is full
/// and the space reserve (`AdapterStore+SpaceReserve`) cannot be put back: a change that then failed
/// for lack of space could not be undone. Reads go on in every case.
extension AdapterStore {
    /// Why the store cannot change anything now, as a sentence starting with the cause (`disk full:`,
    /// `the catalog is lost:`, `the state directory … is on a read-only file system`); nil when it can.
    /// Cheap (a few system calls): `status` calls it every time.
    public func readOnlyReason() -> String? {
        if let openedReadOnlyBecause { return openedReadOnlyBecause }
        if let postponed = startUpCleanUp.reason, !hasRoomForReserve {
            // (With room again, the next change finishes the clean-up first: no reason to refuse it.)
            return "disk full: adapterd could not finish its start-up clean-up (\(postponed)); it finishes it "
                + "before the next change, once there is room: free space on the file system of \(layout.root)"
        }
        if let what = catalogWatch.check() {
            if catalogRescue.state.path == nil {
                // Saving the copy writes; never on the caller's thread (status answers on an event loop).
                DispatchQueue.global().async { [self] in _ = rescueCatalogIfLost() }
            }
            return catalogLostMessage(what)
        }
        return spaceReserveProblem()
    }

    /// Call before a change, serialised with every other change (the daemon holds its change lock):
    /// refuses with `.readOnly` (read-only store, catalog lost, or disk full) when the change could not
    /// be made safely, and otherwise puts the space reserve back first if an earlier change used it.
    public func prepareForChange() throws {
        try checkOpen()
        try checkWritable()
        if let postponed = startUpCleanUp.reason {
            do {
                try recoverAtOpenUsingReserve()
                startUpCleanUp.done()
            } catch let error as StoreError where error.code == .diskFull {
                throw StoreError(.readOnly, "read-only: disk full: adapterd could not finish its start-up clean-up "
                                    + "(\(postponed); again now: \(error.message)); free space on the file system of \(layout.root)")
            }
        }
        ensureSpaceReserve()
        if let problem = spaceReserveProblem(requireReserve: true) {
            throw StoreError(.readOnly, "read-only: \(problem)")
        }
    }

    /// Whether the start-up clean-up waits for a change to finish it (a full disk postponed it).
    public var hasPostponedCleanUp: Bool { startUpCleanUp.reason != nil }

    /// Throws `.readOnly` for a read-only store and `.catalogLost` (saving a copy of the catalog first)
    /// when catalog.sqlite was deleted while open. Every write checks it.
    func checkWritable() throws {
        if let openedReadOnlyBecause { throw StoreError(.readOnly, "read-only: \(openedReadOnlyBecause)") }
        if let message = rescueCatalogIfLost() { throw StoreError(.catalogLost, "read-only: \(message)") }
    }
}

/// The start-up clean-up (`recoverAtOpen`) postponed by a full disk, and why.
final class PostponedCleanUp: @unchecked Sendable {
    private let lock = NSLock()
    private var why: String?

    var reason: String? { lock.withLock { why } }

    func postpone(because reason: String) { lock.withLock { why = reason } }

    func done() { lock.withLock { why = nil } }
}
