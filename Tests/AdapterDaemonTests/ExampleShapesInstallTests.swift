@testable import AdapterDaemon
import AdapterCore
import AdapterProtocol
import AdapterStore
import Foundation
import Logging
import NIOCore
import Testing

/// Issue 17 end to end: each examples shape installs through the daemon's method table served on a
/// real Unix socket, is stored normalised, counts its examples and routes by text.
@Suite("Examples shapes through the daemon", .serialized)
struct ExampleShapesInstallTests {
    typealias F = TextRouteFixtures

    static let travel = [
        "book a flight to paris next monday", "find a cheap hotel near the airport",
        "is my train to berlin delayed", "cancel my hotel booking in rome",
        "which gate does my flight board from", "rent a car at the airport for three days",
    ]
    static let arithmetic = [
        "what is seven times eight", "add twelve and thirty", "divide one hundred by four",
        "subtract nine from twenty", "what is the square root of eighty one", "multiply six by six",
    ]

    static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static func jsonl(_ objects: [Any]) throws -> String {
        try objects.map { try json($0) }.joined(separator: "\n") + "\n"
    }

    /// Each shape's examples file, by task: (adapter fixture, examples text, labels param).
    static func shapes() throws -> [(task: String, adapter: String, examples: String, labels: [String]?)] {
        [
            ("banking", "llama_gqa_f16",
             try jsonl([["labels": ["card", "account"]]] + F.banking.enumerated().map { ["text": $1, "label": $0 % 2] }), nil),
            ("cooking", "llama_gqa_task_b",
             try jsonl(F.cooking.map { ["messages": [["role": "system", "content": "you are a chef"],
                                                     ["role": "user", "content": $0],
                                                     ["role": "assistant", "content": "done"]]] }), nil),
            ("weather", "llama_gqa_task_c",
             try jsonl(F.weather.map { ["instruction": $0, "input": "", "output": "a forecast"] }), nil),
            ("travel", "llama_gqa_bf16",
             try jsonl(travel.map { ["prompt": $0, "completion": "booked"] }), nil),
            ("arithmetic", "llama_gqa_f32",
             try jsonl(arithmetic.enumerated().map { ["input": $1, "output": "42", "label": $0 % 3] }), ["easy", "medium", "hard"]),
        ]
    }

    static func install(_ client: AdapterdClient, _ fixture: AdapterServiceTests.Fixture, task: String, adapter: String,
                        examples: String, labels: [String]?) async throws -> InstallResult {
        var params = try F.params(adapter, task: task, texts: ["unused"])
        params.examples = examples
        params.labels = labels
        return try await client.call(Methods.Install.self, params)
    }

    static func serve(_ fixture: AdapterServiceTests.Fixture) async throws -> RPCServerTests.Running {
        let directory = try TemporaryDirectory()
        let server = RPCServer(
            address: .path(directory.path + "/s.sock"),
            limits: ServerLimits(maxConnections: 8, maxFrameBytes: 64 << 20, maxReadOnlyFrameBytes: 1 << 20, idleTimeout: .seconds(60)),
            policy: try AccessPolicy(daemonUID: getuid(), adminGroupName: nil),
            methods: fixture.service.methods(), logger: Logger(label: "test"))
        let task = Task { try await server.run() }
        try await server.waitUntilListening()
        return RPCServerTests.Running(server: server, task: task, directory: directory)
    }

    @Test func eachShapeInstallsCountsItsExamplesAndRoutesByText() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        let running = try await Self.serve(fixture)
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        for shape in try Self.shapes() {
            let result = try await Self.install(client, fixture, task: shape.task, adapter: shape.adapter,
                                                examples: shape.examples, labels: shape.labels)
            #expect(result.examples == 6, "\(shape.task)")
        }
        let list = try await client.call(Methods.List.self, NoParams())
        #expect(Dictionary(uniqueKeysWithValues: list.tasks.map { ($0.task, $0.examples) })
                    == ["banking": 6, "cooking": 6, "weather": 6, "travel": 6, "arithmetic": 6])

        // Stored normalised: the metadata line is gone and integer labels are named.
        func stored(_ task: String) throws -> [TaskExample] {
            let installed = try #require(try fixture.store.task(named: task))
            return try ExamplesFile.parse(try fixture.store.examples(of: installed))
        }
        #expect(try stored("banking").map(\.label) == ["card", "account", "card", "account", "card", "account"])
        #expect(try stored("banking").map(\.text) == F.banking)
        #expect(try stored("arithmetic").map(\.label) == ["easy", "medium", "hard", "easy", "medium", "hard"])
        #expect(try stored("cooking") == F.cooking.map { TaskExample(text: $0, output: "done") })
        #expect(try stored("weather").map(\.text) == F.weather)
        #expect(try stored("travel").first == TaskExample(text: Self.travel[0], output: "booked"))

        await fixture.service.reads.textIndex.whenUpdated()
        let queries = [
            "banking": "my debit card was charged twice", "cooking": "fry the onions and the eggs in butter",
            "weather": "heavy rain and snow expected tomorrow", "travel": "book a hotel near the airport for my flight",
            "arithmetic": "what is twelve times four",
        ]
        for (task, text) in queries {
            let routed = try await client.call(Methods.RouteText.self, TextRouteParams(text: text, top: 1))
            #expect(routed.matches.map(\.task) == [task], "\(text)")
        }
        await client.close()
        try await running.stop()
    }

    @Test func malformedExamplesAndLabelsAreRefusedWithTheirReason() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        let running = try await Self.serve(fixture)
        let client = try await AdapterdClient.connect(socketPath: running.socket)
        func refusal(examples: String, labels: [String]? = nil) async throws -> RPCError? {
            do {
                _ = try await Self.install(client, fixture, task: "t", adapter: "llama_gqa_f16", examples: examples, labels: labels)
                return nil
            } catch let error as RPCError {
                return error
            }
        }
        let shapeless = try #require(try await refusal(examples: "{\"text\": \"ok\"}\n{\"question\": \"q\", \"answer\": \"a\"}\n"))
        #expect(shapeless.code == .invalidAdapter)
        #expect(shapeless.message.contains("line 2") && shapeless.message.contains("\"messages\"")
                    && shapeless.message.contains("\"instruction\""), "\(shapeless.message)")
        let outOfRange = try #require(try await refusal(examples: "{\"text\": \"ok\", \"label\": 2}\n", labels: ["a", "b"]))
        #expect(outOfRange.code == .invalidAdapter, "\(outOfRange.message)")
        let duplicate = try #require(try await refusal(examples: "{\"text\": \"ok\", \"label\": 1}\n", labels: ["a", "a"]))
        #expect(duplicate.code == .invalidParams, "\(duplicate.message)")
        #expect(try fixture.store.task(named: "t") == nil)
        await client.close()
        try await running.stop()
    }
}
