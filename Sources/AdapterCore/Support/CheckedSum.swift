extension Sequence where Element == Int {
    /// The sum of the elements, or nil when it does not fit in an `Int` (sizes and ranks from files
    /// and clients are summed this way, so an absurd value is refused instead of trapping).
    public func checkedSum() -> Int? {
        var total = 0
        for value in self {
            let (sum, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = sum
        }
        return total
    }
}
