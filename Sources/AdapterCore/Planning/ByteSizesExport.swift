/// `Budget` and `ByteSize` are part of the core's interface (the planner is given a `Budget`); they
/// live in the dependency-free ByteSizes target so that AdapterProtocol carries the same type without
/// linking the core. Re-exported so that `import AdapterCore` is enough to use them.
@_exported import ByteSizes
