import Testing
@testable import AdapterCore

/// Synthetic text tasks: each has its own instruction templates; the content words come from one
/// shared vocabulary, so only the task-specific parts tell tasks apart.
enum SyntheticTexts {
    static let filler = """
        the meeting project weather train report customer budget team schedule garden river morning \
        letter office price market window student doctor music dinner travel ticket phone city road \
        history picture story friend market coffee paper plan delay result question answer
        """.split(separator: " ").map(String.init)
    static let countries = ["France", "Peru", "Kenya", "Japan", "Chile", "Norway", "Egypt", "Canada"]

    static let templates: [String: [String]] = [
        "sentiment": ["What is the sentiment of this review: {f}?", "Is this review positive or negative? {f}",
                      "Classify the opinion expressed here as positive or negative: {f}"],
        "translate-fr": ["Translate to French: {f}", "How do you say \"{f}\" in French?",
                         "Give the French translation of: {f}"],
        "summarise": ["Summarize the following article: {f}", "Give a short summary of this text: {f}",
                      "Write a one-sentence summary: {f}"],
        "grammar": ["Fix the grammar in this sentence: {f}", "Correct the spelling and grammar: {f}",
                    "Rewrite with correct grammar: {f}"],
        "math": ["Solve for x: {n}x + {n} = {n}", "What is {n} plus {n} times {n}?",
                 "Compute the sum of {n} and {n}, then divide by {n}."],
        "code": ["Write a Python function that returns the {f}", "Fix the bug in this code: def f(x): return {f}",
                 "Implement a function in Python to sort the {f}"],
        "geography": ["What is the capital of {c}?", "Which river flows through {c}?",
                      "What language is spoken in {c}?"],
        "tone": ["Rewrite this email in a more polite tone: {f}", "Make this message sound more formal: {f}",
                 "Soften the tone of this note: {f}"],
    ]

    static func text(task: String, _ g: inout SeededGenerator) -> String {
        let options = templates[task]!
        var text = options[Int(g.next() % UInt64(options.count))]
        while let range = text.range(of: "{f}") {
            let words = (0..<(4 + Int(g.next() % 6))).map { _ in filler[Int(g.next() % UInt64(filler.count))] }
            text.replaceSubrange(range, with: words.joined(separator: " "))
        }
        while let range = text.range(of: "{n}") { text.replaceSubrange(range, with: String(g.next() % 100)) }
        while let range = text.range(of: "{c}") {
            text.replaceSubrange(range, with: countries[Int(g.next() % UInt64(countries.count))])
        }
        return text
    }

    static func examples(perTask: Int, seed: UInt64) -> [(name: String, examples: [String])] {
        var g = SeededGenerator(seed: seed)
        return templates.keys.sorted().map { task in (task, (0..<perTask).map { _ in text(task: task, &g) }) }
    }
}

@Suite struct RouterTests {
    @Test func routesHeldOutTextsToTheirTask() throws {
        let router = try TaskRouter(embedder: HashingTextEmbedder(), tasks: SyntheticTexts.examples(perTask: 10, seed: 1))
        var correct = 0, total = 0
        for (task, texts) in SyntheticTexts.examples(perTask: 25, seed: 2) {
            for text in texts {
                let top = try router.route(text, top: 3)
                #expect(top.count == 3)
                if top[0].task == task { correct += 1 }
                total += 1
            }
        }
        #expect(Double(correct) / Double(total) >= 0.97, "top-1 accuracy \(correct)/\(total)")
    }

    @Test func answersAreSortedAndBounded() throws {
        let router = try TaskRouter(embedder: HashingTextEmbedder(), tasks: SyntheticTexts.examples(perTask: 5, seed: 3))
        let matches = try router.route("Translate to French: the train is late", top: 8)
        #expect(matches.count == 8)
        #expect(matches[0].task == "translate-fr")
        #expect(zip(matches, matches.dropFirst()).allSatisfy { $0.similarity >= $1.similarity })
        #expect(matches.allSatisfy { $0.similarity <= 1 + 1e-12 && $0.similarity >= -1 - 1e-12 })
        #expect(try router.route("Translate to French: the train is late", top: 50).count == 8)
    }

    @Test func tasksCanBeReplacedAndRemoved() throws {
        var router = try TaskRouter(embedder: HashingTextEmbedder(), tasks: [
            ("weather", ["Will it rain tomorrow in Oslo?", "What is the forecast for the weekend?"]),
            ("recipes", ["How do I bake sourdough bread?", "Give me a recipe for lentil soup"]),
        ])
        #expect(try router.route("forecast for Monday: rain or sun?", top: 1)[0].task == "weather")
        try router.setTask("weather", examples: ["How do I bake a forecast cake?"])
        router.removeTask("recipes")
        #expect(router.taskNames == ["weather"])
        let centroid = try router.centroid(of: ["hello there"], task: "greeting")
        try router.setTask("greeting", centroid: centroid.map { $0 * 3 })
        #expect(try router.route("hello there", top: 1)[0].task == "greeting")
        #expect(abs(try router.route("hello there", top: 1)[0].similarity - 1) < 1e-9)
    }

    @Test func badRequestsAreErrors() throws {
        let embedder = try HashingTextEmbedder()
        #expect(throws: RoutingError.self) { try TaskRouter(embedder: embedder, tasks: [("empty", [" "])]) }
        #expect(throws: RoutingError.self) {
            try TaskRouter(embedder: embedder, tasks: [("a", ["x y"]), ("a", ["z"])])
        }
        #expect(throws: RoutingError.self) { try TaskRouter(embedder: embedder).route("anything") }
        var router = try TaskRouter(embedder: embedder, tasks: [("a", ["alpha beta"])])
        #expect(throws: RoutingError.self) { try router.route("   ") }
        #expect(throws: RoutingError.self) { try router.route("alpha", top: 0) }
        #expect(throws: RoutingError.self) { try router.setTask("b", centroid: [1, 2, 3]) }
    }
}
