import AdapterProtocol
import AdapterStore
import Logging
import NIOConcurrencyHelpers

/// The budget in force: the one set at run time (`budget.set`, `recluster --budget`; stored in the
/// catalog, it wins from then on, across restarts), else the command line's (`--budget`, the initial
/// budget), else the configuration file's.
struct BudgetSetting: Sendable {
    let store: AdapterStore
    /// The budget given on the command line (`.some(nil)`: unlimited), nil when not given.
    let commandLine: Int64??
    /// The settings in force (their `budgetBytes` is the configuration file's budget).
    let settings: NIOLockedValueBox<DaemonSettings>

    /// The budget in force (nil: unlimited).
    func limit() throws -> Int64? {
        limit(stored: try store.budgetBytes())
    }

    /// The budget in force given the one stored with `budget.set` (`Int.max` for unlimited).
    func limit(stored: Int?) -> Int64? {
        if let stored {
            return stored == Int.max ? nil : Int64(stored)
        }
        if let commandLine { return commandLine }
        return settings.withLockedValue { $0.budgetBytes }
    }

    /// Where the budget in force comes from (`BudgetStatus.source`).
    func source(stored: Int?) -> String {
        if stored != nil { return "budget.set" }
        return commandLine != nil ? "--budget" : "configuration"
    }

    /// The budget as a snapshot's reads report it.
    func status(_ snapshot: ServedSnapshot) -> BudgetStatus {
        BudgetStatus(limitBytes: limit(stored: snapshot.storedBudgetBytes), servedBytes: snapshot.servedBytes,
                     archiveBytes: snapshot.archiveBytes, source: source(stored: snapshot.storedBudgetBytes))
    }

    /// The budget as the catalog has it now.
    func status() throws -> BudgetStatus {
        let stored = try store.budgetBytes()
        return BudgetStatus(limitBytes: limit(stored: stored), servedBytes: Int64(try store.servedBytes()),
                            archiveBytes: Int64(try store.archiveBytes()), source: source(stored: stored))
    }

    /// Logs, at start, when a budget set at run time is in force instead of the `--budget` flag.
    func noteSource(logger: Logger) {
        guard let flagged = commandLine, let stored = try? store.budgetBytes() else { return }
        let flag = flagged.map(ByteSize.format) ?? "unlimited"
        let inForce = stored == Int.max ? "unlimited" : ByteSize.format(Int64(stored))
        logger.notice("\("the budget set at run time (\(inForce)) is in force; --budget \(flag) is only the initial budget (`adapterctl budget \(flag)` sets it again)")")
    }
}
