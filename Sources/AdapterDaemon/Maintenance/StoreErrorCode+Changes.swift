import AdapterStore

extension StoreErrorCode {
    /// The store cannot change anything now (read-only, catalog deleted while open, disk full with the
    /// space reserve gone); reads still work.
    var refusesChanges: Bool {
        switch self {
        case .readOnly, .catalogLost, .diskFull: true
        default: false
        }
    }
}
