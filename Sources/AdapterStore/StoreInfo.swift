/// Schema facts of the store.
public enum StoreInfo {
    /// Number of catalog migrations this build knows (the catalog's schema version).
    public static let schemaVersion = 3
}
