import AdapterStore

/// The store's served adapter, named apart from the protocol's `ServedAdapter` (the module
/// `AdapterStore` shares its name with its main class, so it cannot qualify the type).
typealias StoredServedAdapter = ServedAdapter
