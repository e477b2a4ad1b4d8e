import AdapterProtocol
import CoreMetrics
import Dispatch
import Foundation
import Prometheus

/// The daemon's metrics (docs/PROTOCOL.md, "metrics"): what it counts as events happen (installs,
/// refusals by reason, routes by kind, request latency per method, re-plan durations, errors by code)
/// and what it reads from the served snapshot when asked (served bytes, budget, generation, tasks,
/// quarantine).
///
/// Each daemon owns its own `PrometheusCollectorRegistry` and makes its swift-metrics objects through
/// a `PrometheusMetricsFactory` bound to it, never through `MetricsSystem.bootstrap` (which a process
/// may call once; tests run many daemons in one process). Every metric object is made here, once;
/// recording is an atomic add or a short lock, no allocation. Label values come only from fixed sets
/// (method names of the table, error code names, refusal reasons), never from what a client sends.
public final class DaemonMetrics: Sendable {
    /// The registry the exposition is read from.
    let registry = PrometheusCollectorRegistry()

    /// Installs stored and served.
    let installsAccepted: CoreMetrics.Counter
    /// Installs that failed, by reason (`refusalReasons`).
    private let installRefusals: [String: CoreMetrics.Counter]
    /// Tasks removed.
    let removals: CoreMetrics.Counter
    /// `route` answers (by task name).
    let taskRoutes: CoreMetrics.Counter
    /// `route.text` answers (by example text).
    let textRoutes: CoreMetrics.Counter
    /// Error responses, by code (`countedCodes`), and of any other code.
    private let requestErrors: [RPCErrorCode: CoreMetrics.Counter]
    private let otherRequestErrors: CoreMetrics.Counter
    /// Time to plan a served set (every plan: installs, removals, budget changes, re-clusters, dry runs).
    let replanPlanning: CoreMetrics.Timer
    /// Time to write a planned served set as the new generation and switch to it.
    let replanWriting: CoreMetrics.Timer
    private let factory: PrometheusMetricsFactory
    private let gauges: Gauges

    /// The gauges read from the snapshot when the metrics are asked for.
    private struct Gauges: Sendable {
        let servedBytes, budgetBytes, archiveBytes, generation, tasks, servedAdapters, quarantined,
            damagedObjects, readOnly, startTime: CoreMetrics.Gauge
    }

    /// Reasons an install is refused: the detector's decisions, then the error codes an install can end with.
    static let refusalReasons = ["poisoned", "out_of_distribution"]
        + ["invalid_params", "invalid_adapter", "too_large", "over_budget", "read_only", "busy", "shutting_down",
           "internal_error", "other"]

    /// The error codes counted by name; any other code counts as `other`.
    static let countedCodes: [RPCErrorCode] = [
        .parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError, .unauthorized, .notFound,
        .refused, .overBudget, .tooLarge, .busy, .invalidAdapter, .shuttingDown, .readOnly,
    ]

    /// Buckets of the request latency histograms: 100 µs (a route from the snapshot) to 2 min (an install
    /// that re-clusters).
    static let requestBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60), .seconds(120),
    ]

    /// Buckets of the re-plan histograms: 10 ms (own adapters, nothing merged) to 10 min (a large re-cluster).
    static let replanBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
        .seconds(300), .seconds(600),
    ]

    /// HELP text of every family (the swift-metrics API carries none; `MetricsExposition` puts it in).
    static let help: [String: String] = [
        "adapterd_installs_total": "Installs accepted: screened benign, stored and served.",
        "adapterd_install_refusals_total": "Installs refused, by reason: the detector's decision (poisoned, out_of_distribution) or the error code.",
        "adapterd_removals_total": "Tasks removed.",
        "adapterd_routes_total": "Routes answered, by kind: task (route) or text (route.text).",
        "adapterd_request_errors_total": "Error responses, by error code name.",
        "adapterd_request_duration_seconds": "Time to answer a request, by method, from its parsed frame to its encoded response.",
        "adapterd_replan_duration_seconds": "Time of a served-set re-plan, by phase: plan (clustering, merging, scoring) or write (new generation made current).",
        "adapterd_served_bytes": "Bytes of the current generation's adapter files (counted against the budget).",
        "adapterd_budget_bytes": "Byte budget of the served set in force; 0 when unlimited.",
        "adapterd_archive_bytes": "Bytes of the installed tasks' stored originals (not counted against the budget).",
        "adapterd_generation": "Current generation of the served set.",
        "adapterd_tasks": "Installed tasks.",
        "adapterd_served_adapters": "Adapters (own or merged) the current generation serves.",
        "adapterd_quarantine_records": "Refused adapters recorded in the quarantine.",
        "adapterd_damaged_objects": "Stored objects known to be damaged.",
        "adapterd_read_only": "1 when the daemon refuses changes (disk full, read-only file system, catalog lost), else 0.",
        "adapterd_start_time_seconds": "Start time of the daemon, seconds since the Unix epoch.",
    ]

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            "adapterd_request_duration_seconds": Self.requestBuckets,
            "adapterd_replan_duration_seconds": Self.replanBuckets,
        ]
        self.factory = factory
        installsAccepted = CoreMetrics.Counter(label: "adapterd_installs_total", factory: factory)
        installRefusals = Dictionary(uniqueKeysWithValues: Self.refusalReasons.map { reason in
            (reason, CoreMetrics.Counter(label: "adapterd_install_refusals_total", dimensions: [("reason", reason)], factory: factory))
        })
        removals = CoreMetrics.Counter(label: "adapterd_removals_total", factory: factory)
        taskRoutes = CoreMetrics.Counter(label: "adapterd_routes_total", dimensions: [("kind", "task")], factory: factory)
        textRoutes = CoreMetrics.Counter(label: "adapterd_routes_total", dimensions: [("kind", "text")], factory: factory)
        let errorCounter = { (name: String) in
            CoreMetrics.Counter(label: "adapterd_request_errors_total", dimensions: [("code", name)], factory: factory)
        }
        requestErrors = Dictionary(uniqueKeysWithValues: Self.countedCodes.map { ($0, errorCounter(Self.codeName($0))) })
        otherRequestErrors = errorCounter("other")
        replanPlanning = CoreMetrics.Timer(label: "adapterd_replan_duration_seconds", dimensions: [("phase", "plan")], factory: factory)
        replanWriting = CoreMetrics.Timer(label: "adapterd_replan_duration_seconds", dimensions: [("phase", "write")], factory: factory)
        let gauge = { (label: String) in CoreMetrics.Gauge(label: label, factory: factory) }
        gauges = Gauges(
            servedBytes: gauge("adapterd_served_bytes"), budgetBytes: gauge("adapterd_budget_bytes"),
            archiveBytes: gauge("adapterd_archive_bytes"), generation: gauge("adapterd_generation"),
            tasks: gauge("adapterd_tasks"), servedAdapters: gauge("adapterd_served_adapters"),
            quarantined: gauge("adapterd_quarantine_records"), damagedObjects: gauge("adapterd_damaged_objects"),
            readOnly: gauge("adapterd_read_only"), startTime: gauge("adapterd_start_time_seconds"))
    }

    /// The latency histogram of `method`'s requests (made when the method table registers it).
    func requestTimer(method: String) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: "adapterd_request_duration_seconds", dimensions: [("method", method)], factory: factory)
    }

    /// Counts an error response (a dictionary lookup and an atomic add: errors such as `not found`
    /// can be as frequent as reads).
    func countError(_ code: RPCErrorCode) {
        (requestErrors[code] ?? otherRequestErrors).increment()
    }

    /// Runs an install, counting it as accepted or as refused by its reason.
    func countingInstall<T>(_ install: () async throws -> T) async throws -> T {
        do {
            let result = try await install()
            installsAccepted.increment()
            return result
        } catch {
            installRefusals[Self.refusalReason(error)]?.increment()
            throw error
        }
    }

    /// Runs `body`, counting one more on `counter` when it succeeds.
    func counting<T>(_ counter: CoreMetrics.Counter, _ body: () throws -> T) rethrows -> T {
        let result = try body()
        counter.increment()
        return result
    }

    /// Runs `body`, counting one more on `counter` when it succeeds.
    func counting<T>(_ counter: CoreMetrics.Counter, _ body: () async throws -> T) async rethrows -> T {
        let result = try await body()
        counter.increment()
        return result
    }

    /// Runs `body`, recording its duration (also when it fails) on `timer`.
    func timing<T>(_ timer: CoreMetrics.Timer, _ body: () async throws -> T) async rethrows -> T {
        let started = DispatchTime.now().uptimeNanoseconds
        defer { timer.recordNanoseconds(DispatchTime.now().uptimeNanoseconds &- started) }
        return try await body()
    }

    /// The reason label of a failed install: the detector's decision for a refusal, else the error code's name.
    static func refusalReason(_ error: any Error) -> String {
        guard let error = (error as? any RequestError)?.rpcError else { return "internal_error" }
        if error.code == .refused {
            switch error.details(as: RefusalDetails.self)?.verdict.decision {
            case "poisoned": return "poisoned"
            case "out-of-distribution": return "out_of_distribution"
            default: return "other"
            }
        }
        let name = codeName(error.code)
        return refusalReasons.contains(name) ? name : "other"
    }

    /// An error code's name as a label value: `not found` → `not_found`.
    static func codeName(_ code: RPCErrorCode) -> String {
        code.name.replacingOccurrences(of: " ", with: "_")
    }

    /// Sets the gauges from the reads' current snapshot and renders every metric.
    func exposition(reads: ReadModel) throws -> MetricsResult {
        let snapshot = try reads.readSnapshot()
        let budget = reads.budget.status(snapshot)
        gauges.servedBytes.record(budget.servedBytes)
        switch budget.limit {
        case .bytes(let limit): gauges.budgetBytes.record(limit)
        case .unlimited: gauges.budgetBytes.record(0)  // as its help says
        }
        gauges.archiveBytes.record(budget.archiveBytes)
        gauges.generation.record(snapshot.generation)
        gauges.tasks.record(snapshot.installed.count)
        gauges.servedAdapters.record(snapshot.served?.clusters.count ?? 0)
        gauges.quarantined.record(snapshot.quarantined)
        gauges.damagedObjects.record(snapshot.damaged.count)
        gauges.readOnly.record(reads.store.readOnlyReason() == nil ? 0 : 1)
        gauges.startTime.record(reads.startedAt.timeIntervalSince1970)
        return MetricsExposition.render(registry.emitToBuffer(), help: Self.help)
    }
}
