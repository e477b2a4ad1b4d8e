import AdapterCore
import AdapterProtocol
import AdapterStore
import Logging
import NIOConcurrencyHelpers

/// The budget in force: the one set at run time (`budget.set`, `recluster --budget`; stored in the
/// catalog, it wins from then on, across restarts), else the command line's (`--budget`, the initial
/// budget), else the configuration file's.
struct BudgetSetting: Sendable {
    let store: AdapterStore
    /// The budget given on the command line, nil when not given.
    let commandLine: Budget?
    /// The settings in force (their `budget` is the configuration file's).
    let settings: NIOLockedValueBox<DaemonSettings>

    /// The budget in force.
    func limit() throws -> Budget {
        limit(stored: try store.storedBudget())
    }

    /// The budget in force given the one stored with `budget.set` (nil if none was).
    func limit(stored: Budget?) -> Budget {
        stored ?? commandLine ?? settings.withLockedValue { $0.budget }
    }

    /// Where the budget in force comes from (`BudgetStatus.source`).
    func source(stored: Budget?) -> String {
        if stored != nil { return "budget.set" }
        return commandLine != nil ? "--budget" : "configuration"
    }

    /// The budget as a snapshot's reads report it.
    func status(_ snapshot: ServedSnapshot) -> BudgetStatus {
        BudgetStatus(limit: limit(stored: snapshot.storedBudget), servedBytes: snapshot.servedBytes,
                     archiveBytes: snapshot.archiveBytes, source: source(stored: snapshot.storedBudget))
    }

    /// The budget as the catalog has it now.
    func status() throws -> BudgetStatus {
        let stored = try store.storedBudget()
        return BudgetStatus(limit: limit(stored: stored), servedBytes: Int64(try store.servedBytes()),
                            archiveBytes: Int64(try store.archiveBytes()), source: source(stored: stored))
    }

    /// Logs, at start, when a budget set at run time is in force instead of the `--budget` flag.
    func noteSource(logger: Logger) {
        guard let flagged = commandLine, let stored = try? store.storedBudget() else { return }
        let flag = flagged.formatted()
        let inForce = stored.formatted()
        logger.notice("\("the budget set at run time (\(inForce)) is in force; --budget \(flag) is only the initial budget (`adapterctl budget \(flag)` sets it again)")")
    }
}
