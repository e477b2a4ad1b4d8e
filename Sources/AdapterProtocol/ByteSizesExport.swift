/// The messages carry a `Budget` and clients print sizes with `ByteSize`, both from the
/// dependency-free ByteSizes target (shared with AdapterCore). Re-exported so that
/// `import AdapterProtocol` is enough to use them.
@_exported import ByteSizes
