@testable import AdapterCLI
import Testing

@Suite("DetectorEvaluation")
struct DetectorEvaluationTests {
    @Test("detector eval adds leave-one-trigger-kind-out when the poisoned adapters have two kinds or more")
    func schemes() {
        let labels = [true, true, true, false, false, false]
        let tasks = ["a", "b", "c", "a", "b", "c"]
        let two = DetectorEvaluation.schemes(labels: labels, tasks: tasks, triggerKinds: ["rare", "phrase", "rare", nil, nil, nil])
        #expect(two.map(\.0) == ["stratified 5-fold", "leave-one-task-out", "leave-one-trigger-kind-out"])
        #expect(two[2].1.map(\.name) == ["phrase", "rare"])
        let one = DetectorEvaluation.schemes(labels: labels, tasks: tasks, triggerKinds: ["rare", "rare", "rare", nil, nil, nil])
        #expect(one.map(\.0) == ["stratified 5-fold", "leave-one-task-out"])
    }
}
