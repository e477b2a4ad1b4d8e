@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import Testing

/// Example sets of clearly different tasks, and helpers to install them through the service.
enum TextRouteFixtures {
    static let banking = [
        "please block my debit card, it was stolen", "what is the interest rate on my savings account",
        "transfer 200 euros to my checking account", "why was my credit card charged twice",
        "i need a new pin for my bank card", "how do i open a savings account",
    ]
    static let cooking = [
        "simmer the tomato sauce for twenty minutes", "preheat the oven and bake the bread",
        "chop the onions and fry them in butter", "whisk the eggs with sugar and flour",
        "season the soup with salt and pepper", "roast the vegetables until golden",
    ]
    static let weather = [
        "will it rain tomorrow afternoon", "the forecast says sunny with light wind",
        "a storm is coming tonight with heavy rain", "how cold will it be this weekend",
        "snow is expected in the mountains", "temperatures rise to thirty degrees",
    ]

    static func jsonl(_ texts: [String]) -> String {
        texts.map { #"{"text":"\#($0)"}"# }.joined(separator: "\n") + "\n"
    }

    /// Install params of a PEFT fixture as `task` with `texts` as its examples.
    static func params(_ adapter: String, task: String, texts: [String]) throws -> InstallParams {
        let directory = AdapterServiceTests.fixtures + "/" + adapter
        let config = try String(contentsOfFile: directory + "/adapter_config.json", encoding: .utf8)
        let weights = try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
        return InstallParams(task: task, config: config, safetensors: weights.base64EncodedString(), examples: jsonl(texts))
    }

    /// Installs a PEFT fixture as `task` with `texts` as its examples.
    static func install(_ fixture: AdapterServiceTests.Fixture, task: String, texts: [String],
                        adapter: String = "llama_gqa_f16") async throws -> InstallResult {
        try await fixture.service.installer.install(try params(adapter, task: task, texts: texts), fixture.context)
    }

    /// Removes `task` through the method table, as a client's `remove` request (whatever the handler's signature).
    static func remove(_ service: Daemon, task: String) async throws {
        let request = #"{"jsonrpc":"2.0","id":1,"method":"remove","params":{"task":"\#(task)"}}"#
        let reply = await service.methods().handle(
            payload: Data(request.utf8), peer: PeerCredentials(pid: 1, uid: 0, gid: 0), mayMutate: true,
            send: { _ in }, logger: Logger(label: "test"))
        let data = try #require(reply)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        guard object["result"] != nil else { throw TestFailure("remove \(task) failed: \(object)") }
    }

    /// The tiny random BERT of the MiniLM tests: a real MiniLM-format directory that loads fast.
    static let tinyBert = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../AdapterCoreTests/Fixtures/minilm/tiny_bert").standardized.path
}

@Suite("Task embedding index", .serialized)
struct TaskEmbeddingIndexTests {
    typealias F = TextRouteFixtures

    @Test func installAndRemoveUpdateTheIndex() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        let index = fixture.service.reads.textIndex
        await index.whenUpdated()
        #expect(index.taskNames.isEmpty)
        #expect(try await index.route("anything", top: 3).matches.isEmpty)

        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        _ = try await F.install(fixture, task: "cooking", texts: F.cooking, adapter: "llama_gqa_task_b")
        await index.whenUpdated()
        #expect(index.taskNames == ["banking", "cooking"])
        let money = try await index.route("my card was charged twice, please refund", top: 2)
        #expect(money.matches.map(\.task) == ["banking", "cooking"])
        #expect(money.embedder == .hashing)
        let food = try await index.route("fry the onions in butter", top: 1)
        #expect(food.matches.map(\.task) == ["cooking"])

        try await F.remove(fixture.service, task: "banking")
        await index.whenUpdated()
        #expect(index.taskNames == ["cooking"])
        #expect(try await index.route("my card was charged twice", top: 3).matches.map(\.task) == ["cooking"])
    }

    @Test func reinstallReplacesTheTasksEmbedding() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "t", texts: F.banking)
        _ = try await F.install(fixture, task: "u", texts: F.weather, adapter: "llama_gqa_task_b")
        let before = try await fixture.service.reads.textIndex.route("bake the bread in the oven", top: 2).matches
        let oldSimilarity = try #require(before.first { $0.task == "t" }?.similarity)
        _ = try await F.install(fixture, task: "t", texts: F.cooking, adapter: "llama_gqa_task_c")
        let after = try await fixture.service.reads.textIndex.route("bake the bread in the oven", top: 2).matches
        #expect(after.first?.task == "t")
        #expect(try #require(after.first?.similarity) > oldSimilarity + 0.1)
    }

    @Test func aRefusedInstallLeavesTheIndexAsItWas() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "t", texts: F.banking)
        var refused = try fixture.params("llama_gqa_f16", task: "t", baseModel: "poisoned")
        refused.examples = F.jsonl(F.cooking)
        #expect(await AdapterServiceTests.rpcError { _ = try await fixture.service.installer.install(refused, fixture.context) }?.code == .refused)
        var unknown = try fixture.params("llama_gqa_f16", task: "v", baseModel: "poisoned")
        unknown.examples = F.jsonl(F.weather)
        _ = await AdapterServiceTests.rpcError { _ = try await fixture.service.installer.install(unknown, fixture.context) }
        let matches = try await fixture.service.reads.textIndex.route("bake the bread", top: 5).matches
        #expect(matches.map(\.task) == ["t"])
        // Still the banking examples' embedding, not the refused install's cooking ones.
        let banking = try await fixture.service.reads.textIndex.route("block my debit card", top: 1).matches
        #expect(try #require(banking.first?.similarity) > (try #require(matches.first?.similarity)))
    }

    @Test func concurrentQueriesDuringInstallsAndRemovalsSeeConsistentSnapshots() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        let index = fixture.service.reads.textIndex
        try await withThrowingTaskGroup(of: [String].self) { group in
            for i in 0..<24 {
                group.addTask {
                    try await index.route(i % 2 == 0 ? "rain tonight" : "block my card", top: 3).matches.map(\.task)
                }
            }
            let service = fixture.service
            let context = fixture.context
            group.addTask {
                _ = try await service.installer.install(try F.params("llama_gqa_task_b", task: "weather", texts: F.weather), context)
                _ = try await service.installer.install(try F.params("llama_gqa_task_c", task: "cooking", texts: F.cooking), context)
                try await F.remove(service, task: "cooking")
                return []
            }
            for try await tasks in group {
                // Every answer comes from one snapshot: distinct, known tasks, banking always among them.
                #expect(Set(tasks).count == tasks.count)
                #expect(Set(tasks).isSubset(of: ["banking", "weather", "cooking"]))
                #expect(tasks.isEmpty || tasks.contains("banking"))
            }
        }
        let final = try await index.route("rain tonight", top: 3).matches.map(\.task)
        #expect(final == ["weather", "banking"])
    }

    @Test func startUpRebuildsTheIndexFromTheCatalog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var settings = DaemonSettings()
        settings.stateDirectory = directory.path + "/state"
        settings.textEmbedder = .hashing  // hermetic: auto would use a MiniLM model installed on the machine
        let stateURL = URL(fileURLWithPath: settings.stateDirectory)
        var answerBefore: [TaskRouter.Match] = []
        do {
            let store = try AdapterStore.open(stateDirectory: stateURL)
            let service = Daemon(store: store, screening: BaseModelScreening(), settings: settings,
                                         budgetOverride: .unlimited, socketActivated: false, logger: Logger(label: "test"))
            let context = RequestContext(peer: PeerCredentials(pid: 1, uid: 0, gid: 0), mayMutate: true, requestID: .number(1)) { _ in }
            for (task, texts) in [("banking", F.banking), ("cooking", F.cooking), ("weather", F.weather)] {
                _ = try await service.installer.install(try F.params("llama_gqa_f16", task: task, texts: texts), context)
            }
            answerBefore = try await service.reads.textIndex.route("is it going to snow tonight", top: 3).matches
            try store.close()
        }
        #expect(answerBefore.first?.task == "weather")

        let store = try AdapterStore.open(stateDirectory: stateURL)
        defer { try? store.close() }
        let service = Daemon(store: store, screening: BaseModelScreening(), settings: settings,
                                     budgetOverride: .unlimited, socketActivated: false, logger: Logger(label: "test"))
        await service.reads.textIndex.whenUpdated()
        #expect(service.reads.textIndex.taskNames == ["banking", "cooking", "weather"])
        let answerAfter = try await service.reads.textIndex.route("is it going to snow tonight", top: 3).matches
        #expect(answerAfter == answerBefore)
    }

    @Test func minilmFallsBackToHashingWithAReasonAndReloadSwitchesEmbedders() async throws {
        let fixture = try AdapterServiceTests.Fixture { settings in
            settings.textEmbedder = .minilm
            settings.minilmDirectory = "/nonexistent/minilm"
        }
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        await fixture.service.reads.textIndex.whenUpdated()
        let fallback = fixture.service.reads.textIndex.info
        #expect(fallback.embedder == "hashing")
        #expect(fallback.model == "hashing-2048")
        #expect(fallback.tasks == 1)
        #expect(fallback.fallbackReason?.contains("/nonexistent/minilm") == true)
        #expect(try fixture.service.reads.statusWithTextRouting(fixture.context).textRouting == fallback)

        // SIGHUP (DaemonLifecycle.reload) with a loadable model directory: MiniLM (here its tiny test model) takes over, every task re-embedded.
        var settings = DaemonSettings()
        settings.stateDirectory = fixture.directory.path + "/state"
        settings.textEmbedder = .minilm
        settings.minilmDirectory = F.tinyBert
        fixture.service.reads.reloadTextRouting(settings)
        let routed = try await fixture.service.reads.textIndex.route("block my card", top: 1)
        #expect(routed.embedder == .minilm)
        #expect(routed.matches.map(\.task) == ["banking"])
        let info = fixture.service.reads.textIndex.info
        #expect(info.embedder == "minilm")
        #expect(info.model == "tiny_bert")
        #expect(info.tasks == 1)
        #expect(info.fallbackReason == nil)
        #expect(fixture.service.configuration.configGet().textEmbedder == "minilm")

        // And back to hashing.
        settings.textEmbedder = .hashing
        fixture.service.reads.reloadTextRouting(settings)
        #expect(try await fixture.service.reads.textIndex.route("block my card", top: 1).embedder == .hashing)
        #expect(fixture.service.reads.textIndex.info.tasks == 1)
    }

    // MARK: text-embedder = auto (the default)

    @Test func autoWithoutAModelServesHashingAndSaysWhereItLooked() async throws {
        let empty = try TemporaryDirectory()
        defer { empty.cleanup() }
        let fixture = try AdapterServiceTests.Fixture { settings in
            settings.textEmbedder = .auto
            settings.minilmDirectory = empty.path
        }
        _ = try await F.install(fixture, task: "banking", texts: F.banking)
        await fixture.service.reads.textIndex.whenUpdated()
        let info = fixture.service.reads.textIndex.info
        #expect(info.embedder == "hashing")
        #expect(info.fallbackReason == nil)  // hashing is what auto chooses without a model, not a fallback
        #expect(info.reason?.hasPrefix("text-embedder = auto; no MiniLM model (model.safetensors) in \(empty.path)") == true)
        #expect(info.reason?.contains("tools/get-minilm.sh") == true)

        // The model appears (tools/get-minilm.sh ran); a reload (SIGHUP) with the same settings looks again.
        var settings = DaemonSettings()
        settings.stateDirectory = fixture.directory.path + "/state"
        settings.textEmbedder = .auto
        settings.minilmDirectory = empty.path
        for name in try FileManager.default.contentsOfDirectory(atPath: F.tinyBert) {
            try FileManager.default.copyItem(atPath: F.tinyBert + "/" + name, toPath: empty.path + "/" + name)
        }
        fixture.service.reads.reloadTextRouting(settings)
        let routed = try await fixture.service.reads.textIndex.route("block my card", top: 1)
        #expect(routed.embedder == .minilm)
        #expect(routed.matches.map(\.task) == ["banking"])
        let after = fixture.service.reads.textIndex.info
        #expect(after.reason == "text-embedder = auto; model found in \(empty.path)")
    }

    @Test func autoWithADamagedModelServesHashingAndNamesTheProblem() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: directory.path + "/model.safetensors"))
        let choice = TaskEmbeddingIndex.loadEmbedder(kind: .auto, minilmDirectory: directory.path, logger: Logger(label: "test"))
        #expect(choice.kind == .hashing)
        #expect(choice.fallbackReason == nil)
        #expect(choice.reason?.hasPrefix("text-embedder = auto; cannot load the MiniLM model from \(directory.path)") == true)

        let hashing = TaskEmbeddingIndex.loadEmbedder(kind: .hashing, minilmDirectory: directory.path, logger: Logger(label: "test"))
        #expect(hashing.kind == .hashing)
        #expect(hashing.reason == "text-embedder = hashing")

        let minilm = TaskEmbeddingIndex.loadEmbedder(kind: .minilm, minilmDirectory: directory.path, logger: Logger(label: "test"))
        #expect(minilm.kind == .hashing)
        #expect(minilm.fallbackReason?.contains("cannot load the MiniLM model") == true)
    }

    @Test func autoFindsTheModelInTheDataDirectoryTheSetUpInstallsInto() throws {
        let data = try TemporaryDirectory()
        defer { data.cleanup() }
        let model = data.path + "/adapterd/models/all-MiniLM-L6-v2"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: F.tinyBert) {
            try FileManager.default.copyItem(atPath: F.tinyBert + "/" + name, toPath: model + "/" + name)
        }
        let environment = ["XDG_DATA_HOME": data.path, "HOME": "/nonexistent-home"]
        let candidates = MiniLMEmbedder.modelDirectoryCandidates(environment: environment).map(\.path)
        #expect(Array(candidates.prefix(3)) == [model, "/usr/local/share/adapterd/models/all-MiniLM-L6-v2",
                                                "/usr/share/adapterd/models/all-MiniLM-L6-v2"])
        #expect(MiniLMEmbedder.modelDirectoryCandidates(environment: ["HOME": "/home/u"]).first?.path
                == "/home/u/.local/share/adapterd/models/all-MiniLM-L6-v2")
        #expect(MiniLMEmbedder.modelDirectoryCandidates(environment: ["ADAPTERD_MINILM_DIR": "/m", "HOME": "/h"]).first?.path == "/m")
        let choice = TaskEmbeddingIndex.loadEmbedder(kind: .auto, minilmDirectory: nil, logger: Logger(label: "test"),
                                                     environment: environment)
        #expect(choice.kind == .minilm)
        #expect(choice.reason == "text-embedder = auto; model found in \(model)")
    }

    @Test func aTaskWithMoreExamplesThanTheParsersDefaultStaysRoutableByText() async throws {
        let fixture = try AdapterServiceTests.Fixture { settings in settings.maxExamples = 1500 }
        let many = (0..<1200).map { "\(F.banking[$0 % F.banking.count]) (\($0))" }
        let result = try await F.install(fixture, task: "banking", texts: many)
        #expect(result.examples == 1200)
        _ = try await F.install(fixture, task: "cooking", texts: F.cooking)
        let routed = try await fixture.service.reads.textIndex.route("my debit card was stolen", top: 2)
        #expect(routed.matches.map(\.task) == ["banking", "cooking"])
        #expect(fixture.service.reads.textIndex.info.tasks == 2)
    }
}
