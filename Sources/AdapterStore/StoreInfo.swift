/// Schema facts of the store.
public enum StoreInfo {
    public static let schemaVersion = 1
}
