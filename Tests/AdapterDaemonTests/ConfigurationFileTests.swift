import AdapterCore
@testable import AdapterDaemon
import Foundation
import Logging
import Testing

@Suite("Configuration file")
struct ConfigurationFileTests {
    @Test func parsesEveryKey() throws {
        let settings = try ConfigurationFile.parse("""
            # comment
            socket = /tmp/a.sock
            state-dir = /tmp/state

            budget = 1.5GB
            detector-threshold = 0.7
            admin-group = none
            max-connections = 5
            max-adapter-size = 64MiB
            max-examples-size = 1MiB
            max-read-only-request = 64KiB
            idle-timeout = 2.5s
            log-level = debug
            planning-threads = 3
            """)
        #expect(settings.socketPath == "/tmp/a.sock")
        #expect(settings.stateDirectory == "/tmp/state")
        #expect(settings.budget == .bytes(1_500_000_000))
        #expect(settings.detectorThreshold == 0.7)
        #expect(settings.adminGroup == nil)
        #expect(settings.maxConnections == 5)
        #expect(settings.maxAdapterBytes == 64 * 1024 * 1024)
        #expect(settings.maxExamplesBytes == 1024 * 1024)
        #expect(settings.maxReadOnlyFrameBytes == 64 * 1024)
        #expect(settings.idleTimeoutSeconds == 2.5)
        #expect(settings.logLevel == .debug)
        #expect(settings.planningThreads == 3)
        #expect(settings.maxFrameBytes > settings.maxAdapterBytes * 4 / 3)
    }

    @Test func theShippedConfigurationParses() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/adapterd.conf").standardized.path
        let settings = try ConfigurationFile.load(path: file)
        #expect(settings.adminGroup == "adapterd-admin")
        #expect(settings.budget == .bytes(Int64(1024 * 1024 * 1024)))
        #expect(settings.socketPath == "/run/adapterd/adapterd.sock")
        // planning-threads = auto: one thread per core, as without the key.
        #expect(settings.planningThreads == ProcessInfo.processInfo.activeProcessorCount)
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains("\nplanning-threads = auto\n"))
        #expect(settings.runtimePrecision == .auto)
    }

    @Test(arguments: [
        ("budgt = 1GB", ConfigurationError.Code.unknownKey, ":1"),
        ("socket /tmp/x", .syntax, "key = value"),
        ("budget = lots", .invalidValue, "lots"),
        ("budget = 1GB\nbudget = 2GB", .syntax, "twice"),
        ("detector-threshold = 1.5", .invalidValue, "between 0 and 1"),
        ("max-connections = many", .invalidValue, "many"),
        ("log-level = loud", .invalidValue, "loud"),
        ("log-level = loud", .invalidValue, "is not one of trace, debug, info, notice, warning, error, critical"),
        ("install-plan = later", .invalidValue, "install-plan 'later' is not one of auto, full, place"),
        ("socket = /" + String(repeating: "a", count: 120), .invalidValue, "108"),
        ("evaluator = oracle", .invalidValue, "weight-space, command"),
        ("evaluator = command", .invalidValue, "evaluator-command"),
        ("evaluator-timeout = 0", .invalidValue, "evaluator-timeout"),
        ("evaluator-timeout = soon", .invalidValue, "soon"),
        ("merged-dtype = int8", .invalidValue, "F16, BF16, F32"),
        ("planning-threads = 0", .invalidValue, "at least 1"),
        ("planning-threads = all", .invalidValue, "not a number or auto"),
        ("runtime-precision = f16", .invalidValue, "runtime-precision 'f16' is not one of auto, float32, bfloat16"),
    ])
    func reportsProblemsWithTheLine(text: String, code: ConfigurationError.Code, fragment: String) {
        do {
            _ = try ConfigurationFile.parse(text, source: "test.conf")
            Issue.record("'\(text)' parsed")
        } catch {
            #expect(error.code == code)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    /// SIGHUP re-reads every key but socket and state-dir: a new planning-threads applies to the next plan.
    @Test func aReloadAppliesPlanningThreads() throws {
        let before = ComputeThreads.count
        defer { ComputeThreads.set(before) }
        let fixture = try AdapterServiceTests.Fixture()
        var settings = fixture.service.configuration.settings.withLockedValue { $0 }
        settings.planningThreads = before + 2
        fixture.service.configuration.reload(settings: settings, screening: BaseModelScreening())
        #expect(ComputeThreads.count == before + 2)
    }

    @Test func evaluatorKeysChooseTheExternalCommand() throws {
        let settings = try ConfigurationFile.parse("""
            evaluator = command
            evaluator-command = /usr/local/bin/score  --adapter {adapter_dir} --examples {examples}
            evaluator-timeout = 30s
            merged-dtype = bf16
            """)
        #expect(settings.mergedDType == .bf16)
        #expect(settings.evaluator == .command)
        #expect(settings.evaluatorCommand == ["/usr/local/bin/score", "--adapter", "{adapter_dir}", "--examples", "{examples}"])
        #expect(settings.evaluatorTimeoutSeconds == 30)
        #expect(DaemonSettings().evaluator == .auto)
        guard case .fixed(let evaluators, _) = EvaluatorFactory.make(settings, baseModel: .notConfigured, logger: .init(label: "test")) else {
            Issue.record("the command evaluator is a fixed one")
            return
        }
        #expect(evaluators.primary.name == "external:score")
        #expect(evaluators.fallback?.name == "weight-space")
    }

    /// `evaluator = auto` (the default) scores with the examples only with a loaded base model (label
    /// probabilities on one as small as llama-tiny, data-aware on a larger one), and says why otherwise; `data-aware` without `base-model` is a configuration error; `base-model` is a key.
    @Test func evaluatorAutoFollowsTheBaseModel() throws {
        let logger = Logger(label: "test")
        let plain = EvaluatorFactory.make(DaemonSettings(), baseModel: .notConfigured, logger: logger)
        #expect(plain.name == "weight-space")
        #expect(plain.reason == "evaluator = auto; no base-model is set, so merges are scored in weight space")
        var settings = try ConfigurationFile.parse("base-model = \(CorpusFiles.llamaTiny)\n")
        #expect(settings.baseModel == CorpusFiles.llamaTiny)
        #expect(try ConfigurationFile.parse("base-model = none\n").baseModel == nil)
        let loaded = BaseModelState.make(settings)
        guard case .loaded(let model) = loaded else {
            Issue.record("the corpus llama-tiny did not load: \(loaded)")
            return
        }
        let choice = EvaluatorFactory.make(settings, baseModel: loaded, logger: logger)
        #expect(choice.name == "label-probability")
        #expect(choice.reason.hasPrefix("evaluator = auto; base model \(model.directory) (decoder"))
        #expect(model.sketcher.model.layerParameterCount <= LabelProbabilityEvaluator.routineLayerParameters)
        #expect(choice.sketchingModel != nil)   // data-aware stays possible for a plan with unlabelled tasks
        settings.evaluator = .dataAware
        #expect(EvaluatorFactory.make(settings, baseModel: loaded, logger: logger).name == "data-aware")
        settings.evaluator = .weightSpace
        #expect(EvaluatorFactory.make(settings, baseModel: loaded, logger: logger).name == "weight-space")

        settings.baseModel = "/nonexistent/model"
        settings.evaluator = .dataAware
        let broken = BaseModelState.make(settings)
        let fallback = EvaluatorFactory.make(settings, baseModel: broken, logger: logger)
        #expect(fallback.name == "weight-space")
        #expect(fallback.reason.hasPrefix("evaluator = data-aware; base-model /nonexistent/model cannot be loaded: "))
        settings.baseModel = nil
        #expect(throws: ConfigurationError.self) { try settings.validate() }
        // The same model directory is not loaded twice.
        var again = DaemonSettings()
        again.baseModel = model.directory
        guard case .loaded(let reused) = BaseModelState.make(again, reusing: loaded) else {
            Issue.record("not reused")
            return
        }
        #expect(reused.identity == model.identity)
    }

    @Test func flagsOverrideTheFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/adapterd.conf"
        try "socket = /tmp/file.sock\nbudget = 1GiB\nstate-dir = /tmp/file-state\n".write(toFile: path, atomically: true, encoding: .utf8)
        let settings = try DaemonOptions(socketPath: "/tmp/flag.sock", configFile: path, budget: "64MiB").resolve()
        #expect(settings.socketPath == "/tmp/flag.sock")
        #expect(settings.stateDirectory == "/tmp/file-state")
        #expect(settings.budget == .bytes(Int64(64 * 1024 * 1024)))
        #expect(try DaemonOptions(budget: "unlimited").budgetOverride() == .unlimited)
        #expect(throws: ConfigurationError.self) { try DaemonOptions(budget: "64 parsecs").budgetOverride() }
        #expect(throws: ConfigurationError.self) { try DaemonOptions(configFile: directory.path + "/missing.conf").resolve() }
    }

    @Test func detectorBaseModelKeyAndFlag() throws {
        #expect(DaemonSettings().detectorBaseModel == nil)
        let set = try ConfigurationFile.parse("detector-base-model = /opt/models/llama-tiny\ndetector-model = builtin\n")
        #expect(set.detectorBaseModel == "/opt/models/llama-tiny")
        #expect(set.detectorModel == nil)
        #expect(try ConfigurationFile.parse("detector-base-model = none\n").detectorBaseModel == nil)
        #expect(try ConfigurationFile.parse("detector-base-model =\n").detectorBaseModel == nil)
        #expect(ConfigurationFile.keys.contains { $0.key == "detector-base-model" })

        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let path = directory.path + "/adapterd.conf"
        try "detector-base-model = /from/file\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try DaemonOptions(configFile: path).resolve().detectorBaseModel == "/from/file")
        #expect(try DaemonOptions(configFile: path, detectorBaseModel: "/from/flag").resolve().detectorBaseModel == "/from/flag")

        // The shipped file documents the key, commented out: no base model unless one is configured.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/adapterd.conf").standardized.path
        #expect(try ConfigurationFile.load(path: shipped).detectorBaseModel == nil)
        #expect(try String(contentsOfFile: shipped, encoding: .utf8).contains("# detector-base-model = "))
    }

    @Test func textEmbedderKeys() throws {
        #expect(DaemonSettings().textEmbedder == .auto)
        #expect(DaemonSettings().minilmDirectory == nil)
        let minilm = try ConfigurationFile.parse("text-embedder = MiniLM\nminilm-dir = /opt/minilm/model\n")
        #expect(minilm.textEmbedder == .minilm)
        #expect(minilm.minilmDirectory == "/opt/minilm/model")
        let auto = try ConfigurationFile.parse("text-embedder = hashing\nminilm-dir = auto\n")
        #expect(auto.textEmbedder == .hashing)
        #expect(auto.minilmDirectory == nil)
        do {
            _ = try ConfigurationFile.parse("text-embedder = bert", source: "t.conf")
            Issue.record("text-embedder = bert parsed")
        } catch {
            #expect(error.code == .invalidValue)
            #expect(error.message == "t.conf:1: text-embedder 'bert' is not one of auto, hashing, minilm")
        }
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../etc/adapterd.conf").standardized.path
        let settings = try ConfigurationFile.load(path: shipped)
        #expect(settings.textEmbedder == .auto)
        #expect(try ConfigurationFile.parse("text-embedder = auto").textEmbedder == .auto)
        #expect(settings.minilmDirectory == nil)
    }

    /// `runtime-precision` chooses what the base model multiplies in (auto by default and in the shipped
    /// file, which is bfloat16 exactly where the CPU has its instructions; a bad value is refused with
    /// the others in `reportsProblemsWithTheLine`).
    @Test func runtimePrecisionKey() throws {
        #expect(DaemonSettings().runtimePrecision == .auto)
        #expect(try ConfigurationFile.parse("runtime-precision = float32").runtimePrecision == .float32)
        #expect(try ConfigurationFile.parse("runtime-precision = BFloat16").runtimePrecision == .bfloat16)
        #expect(RuntimePrecision.Choice.auto.resolved == RuntimePrecision.automatic)
        #expect(RuntimePrecision.Choice.float32.resolved == .float32 && RuntimePrecision.Choice.bfloat16.resolved == .bfloat16)
    }

    /// The base model is loaded in the configured precision, reused on reload only when the directory
    /// and the precision are the same, and status names the precision.
    @Test func baseModelFollowsRuntimePrecision() throws {
        var settings = DaemonSettings()
        settings.baseModel = CorpusFiles.llamaTiny
        settings.runtimePrecision = .float32
        let single = BaseModelState.make(settings)
        let model = try #require(single.model)
        #expect(model.sketcher.model.precision == .float32)
        #expect(model.summary.hasSuffix("products in float32"))
        // The same settings keep the loaded model (the same label references); another precision loads it again.
        let kept = try #require(BaseModelState.make(settings, reusing: single).model)
        #expect(kept.labelReferences === model.labelReferences)
        settings.runtimePrecision = .bfloat16
        let half = try #require(BaseModelState.make(settings, reusing: single).model)
        #expect(half.labelReferences !== model.labelReferences)
        #expect(half.sketcher.model.precision == .bfloat16)
        #expect(half.summary.hasSuffix("products in bfloat16"))
    }
}
