@testable import AdapterDaemon
import AdapterProtocol
import Foundation
import Logging
import Testing

/// The `metrics` method of a real in-process daemon over its socket: counters after installs (one
/// accepted, refusals by reason), routes by kind, errors by code, latency and re-plan histograms, and
/// gauges equal to what `status` says; the text is valid Prometheus exposition format; several
/// daemons in one process each count only their own events.
@Suite("Metrics", .serialized)
struct MetricsTests {
    /// A daemon (AdapterServiceTests' fixture: screening refuses base models named "poisoned") served
    /// on a socket with its full method table.
    final class Running {
        let fixture: AdapterServiceTests.Fixture
        let server: RPCServer
        let task: Task<Void, Error>
        let client: AdapterdClient

        init() async throws {
            fixture = try AdapterServiceTests.Fixture()
            var settings = DaemonSettings()
            settings.stateDirectory = fixture.directory.path + "/state"
            server = RPCServer(
                address: .path(fixture.directory.path + "/s.sock"), limits: ServerLimits(settings: settings),
                policy: try AccessPolicy(daemonUID: getuid(), adminGroupName: nil), methods: fixture.service.methods(),
                logger: Logger(label: "test"))
            let server = self.server
            task = Task { try await server.run() }
            try await server.waitUntilListening()
            client = try await AdapterdClient.connect(socketPath: fixture.directory.path + "/s.sock")
        }

        func stop() async throws {
            await client.close()
            server.shutDown()
            try await task.value
        }

        /// Calls `method`, expecting the daemon's error, and returns its code.
        func failingCall<M: RPCMethod>(_ method: M.Type, _ params: M.Params) async -> RPCErrorCode? {
            do {
                _ = try await client.call(method, params)
                Issue.record("\(M.name) succeeded; an error was expected")
                return nil
            } catch let error as RPCError {
                return error.code
            } catch {
                Issue.record("unexpected error \(error)")
                return nil
            }
        }
    }

    /// Installs one adapter, has two refused (poisoned; invalid base64), removes nothing, routes by task
    /// three times (one unknown task) and by text once.
    static func exercise(_ running: Running) async throws {
        let fixture = running.fixture
        _ = try await running.client.call(Methods.Install.self, try fixture.params("llama_gqa_f16", task: "summarize"))
        #expect(await running.failingCall(
            Methods.Install.self, try fixture.params("llama_gqa_task_b", task: "t", baseModel: "poisoned/base")) == .refused)
        var broken = try fixture.params("llama_gqa_f16", task: "broken")
        broken.safetensors = "not base64!"
        #expect(await running.failingCall(Methods.Install.self, broken) == .invalidParams)
        _ = try await running.client.call(Methods.Route.self, RouteParams(task: "summarize"))
        _ = try await running.client.call(Methods.Route.self, RouteParams(task: "summarize"))
        #expect(await running.failingCall(Methods.Route.self, RouteParams(task: "nowhere")) == .notFound)
        _ = try await running.client.call(Methods.RouteText.self, TextRouteParams(text: "example 3"))
    }

    @Test func countsInstallsRefusalsRoutesAndLatencyOfARealDaemon() async throws {
        let running = try await Running()
        try await Self.exercise(running)
        let metrics = try await running.client.call(Methods.Metrics.self, NoParams())
        let status = try await running.client.call(Methods.Status.self, NoParams())
        try await running.stop()

        #expect(metrics.format == "prometheus-text-0.0.4")
        #expect(metrics.value("adapterd_installs_total") == 1)
        #expect(metrics.value("adapterd_install_refusals_total", ["reason": "poisoned"]) == 1)
        #expect(metrics.value("adapterd_install_refusals_total", ["reason": "invalid_params"]) == 1)
        #expect(metrics.value("adapterd_install_refusals_total", ["reason": "out_of_distribution"]) == 0)
        #expect(metrics.value("adapterd_install_refusals_total", ["reason": "over_budget"]) == 0)
        #expect(metrics.value("adapterd_removals_total") == 0)
        #expect(metrics.value("adapterd_routes_total", ["kind": "task"]) == 2)
        #expect(metrics.value("adapterd_routes_total", ["kind": "text"]) == 1)
        #expect(metrics.value("adapterd_request_errors_total", ["code": "refused"]) == 1)
        #expect(metrics.value("adapterd_request_errors_total", ["code": "invalid_params"]) == 1)
        #expect(metrics.value("adapterd_request_errors_total", ["code": "not_found"]) == 1)
        #expect(metrics.value("adapterd_request_errors_total", ["code": "unauthorized"]) == 0)
        // Latency per method: every request counted once, whichever path answered it (routes on the
        // event loop, the rest on the connection's task); `metrics` itself is timed after it answers.
        #expect(metrics.value("adapterd_request_duration_seconds_count", ["method": "install"]) == 3)
        #expect(metrics.value("adapterd_request_duration_seconds_count", ["method": "route"]) == 3)
        #expect(metrics.value("adapterd_request_duration_seconds_count", ["method": "route.text"]) == 1)
        #expect(metrics.value("adapterd_request_duration_seconds_count", ["method": "metrics"]) == 0)
        #expect(metrics.value("adapterd_request_duration_seconds_count", ["method": "verify"]) == 0)
        let installSeconds = try #require(metrics.value("adapterd_request_duration_seconds_sum", ["method": "install"]))
        #expect(installSeconds > 0)
        // One install planned and wrote a generation; the refused ones never reached the planner.
        #expect(metrics.value("adapterd_replan_duration_seconds_count", ["phase": "plan"]) == 1)
        #expect(metrics.value("adapterd_replan_duration_seconds_count", ["phase": "write"]) == 1)
        // Gauges: what status says.
        #expect(metrics.value("adapterd_generation") == Double(status.generation))
        #expect(metrics.value("adapterd_served_bytes") == Double(status.budget.servedBytes))
        #expect(status.budget.servedBytes > 0)
        #expect(metrics.value("adapterd_budget_bytes") == 0)  // the fixture's budget is unlimited
        #expect(metrics.value("adapterd_archive_bytes") == Double(status.budget.archiveBytes))
        #expect(metrics.value("adapterd_tasks") == 1)
        #expect(metrics.value("adapterd_served_adapters") == 1)
        #expect(metrics.value("adapterd_quarantine_records") == 1)
        #expect(metrics.value("adapterd_read_only") == 0)
        #expect(metrics.value("adapterd_damaged_objects") == 0)
    }

    @Test func theTextIsValidPrometheusExpositionAndMatchesTheFamilies() async throws {
        let running = try await Running()
        try await Self.exercise(running)
        let metrics = try await running.client.call(Methods.Metrics.self, NoParams())
        try await running.stop()

        let parsed = try PrometheusTextValidator.parse(metrics.text)
        #expect(Set(parsed.keys) == Set(DaemonMetrics.help.keys))
        for (name, family) in parsed {
            #expect(family.help?.isEmpty == false, "\(name) has no HELP")
            #expect(name.hasPrefix("adapterd_"))
            if family.type == "counter" { #expect(name.hasSuffix("_total")) }
        }
        #expect(parsed["adapterd_installs_total"]?.type == "counter")
        #expect(parsed["adapterd_generation"]?.type == "gauge")
        #expect(parsed["adapterd_request_duration_seconds"]?.type == "histogram")
        #expect(parsed["adapterd_replan_duration_seconds"]?.type == "histogram")
        // The structured families say the same as the text, in its order.
        #expect(metrics.families.map(\.name) == metrics.families.map(\.name).sorted())
        for family in metrics.families {
            let fromText = try #require(parsed[family.name])
            #expect(family.type == fromText.type)
            #expect(family.help == fromText.help)
            #expect(family.samples.map { PrometheusTextValidator.Sample(name: $0.name, labels: $0.labels, value: $0.value) }
                    == fromText.samples)
        }
    }

    @Test func eachDaemonInOneProcessCountsOnlyItsOwnEvents() async throws {
        let first = try await Running()
        let second = try await Running()
        _ = try await first.client.call(Methods.Install.self, try first.fixture.params("llama_gqa_f16", task: "a"))
        _ = try await first.client.call(Methods.Route.self, RouteParams(task: "a"))
        let firstMetrics = try await first.client.call(Methods.Metrics.self, NoParams())
        let secondMetrics = try await second.client.call(Methods.Metrics.self, NoParams())
        try await first.stop()
        try await second.stop()
        #expect(firstMetrics.value("adapterd_installs_total") == 1)
        #expect(firstMetrics.value("adapterd_routes_total", ["kind": "task"]) == 1)
        #expect(secondMetrics.value("adapterd_installs_total") == 0)
        #expect(secondMetrics.value("adapterd_routes_total", ["kind": "task"]) == 0)
        #expect(secondMetrics.value("adapterd_request_duration_seconds_count", ["method": "install"]) == 0)
    }

    /// The validator the text test relies on refuses what the format forbids.
    @Test func theValidatorRefusesInvalidExposition() throws {
        let histogram = { (buckets: String, count: Int) in
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n" + buckets + "h_seconds_sum 1.5\nh_seconds_count \(count)\n"
        }
        _ = try PrometheusTextValidator.parse(histogram("h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n", 2))
        let invalid = [
            "x 1",  // no final line feed
            "x 1\n",  // no TYPE
            "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",  // series repeated
            "# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",  // not contiguous
            "# TYPE x gauge\nx{1a=\"1\"} 1\n",  // bad label name
            "# TYPE x gauge\nx{a=\"\\q\"} 1\n",  // bad escape
            "# TYPE x gauge\nx one\n",  // bad value
            "# TYPE x_total counter\nx_total 1\n# TYPE x_total counter\n",  // TYPE twice
            histogram("h_seconds_bucket{le=\"0.1\"} 1\n", 1),  // no +Inf bucket
            histogram("h_seconds_bucket{le=\"0.1\"} 2\nh_seconds_bucket{le=\"+Inf\"} 1\n", 1),  // not cumulative
            histogram("h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n", 3),  // +Inf ≠ count
        ]
        for text in invalid {
            #expect(throws: PrometheusTextValidator.Invalid.self, "\(text)") { _ = try PrometheusTextValidator.parse(text) }
        }
    }

    @Test func errorsOfCodesNotCountedByNameCountAsOther() {
        let metrics = DaemonMetrics()
        metrics.countError(.notFound)
        metrics.countError(RPCErrorCode(rawValue: -32050))
        metrics.countError(RPCErrorCode(rawValue: -32050))
        let result = MetricsExposition.render(metrics.registry.emitToBuffer(), help: DaemonMetrics.help)
        #expect(result.value("adapterd_request_errors_total", ["code": "not_found"]) == 1)
        #expect(result.value("adapterd_request_errors_total", ["code": "other"]) == 2)
        #expect(result.families.first { $0.name == "adapterd_request_errors_total" }?.samples.count
                == DaemonMetrics.countedCodes.count + 1)
    }

    @Test func metricsIsReadOnlyAndListed() {
        #expect(Methods.all.contains { $0.name == "metrics" && !$0.mutates })
        #expect(AdapterServiceTests.Fixture.methodNames().contains("metrics"))
    }

    @Test func refusalReasonsFollowTheVerdictOrTheErrorCode() {
        let verdict = VerdictInfo(decision: "out-of-distribution", score: 1, threshold: 0.5, topFeatures: [], model: "m")
        let refused = RPCError(code: .refused, message: "no",
                               details: RefusalDetails(task: "t", sha256: "x", verdict: verdict, quarantineId: 1))
        #expect(DaemonMetrics.refusalReason(refused) == "out_of_distribution")
        #expect(DaemonMetrics.refusalReason(RPCError(code: .overBudget, message: "")) == "over_budget")
        #expect(DaemonMetrics.refusalReason(RPCError(code: .readOnly, message: "")) == "read_only")
        #expect(DaemonMetrics.refusalReason(RPCError(code: .notFound, message: "")) == "other")
        #expect(DaemonMetrics.refusalReason(TestFailure("boom")) == "internal_error")
    }
}

extension AdapterServiceTests.Fixture {
    /// The method names of a fresh daemon's table.
    static func methodNames() -> [String] {
        (try? AdapterServiceTests.Fixture().service.methods().methodNames) ?? []
    }
}
