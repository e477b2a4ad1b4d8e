@testable import AdapterCore
@testable import AdapterTraining
import Testing

@Suite("CrossValidation")
struct CrossValidationTests {
    @Test("stratified k-fold: disjoint test sets covering everything, class balance per fold", arguments: [3, 5, 7])
    func stratified(k: Int) {
        let labels = (0..<37).map { $0 % 3 == 0 }   // 13 positives, 24 negatives
        let folds = CrossValidation.stratifiedKFold(labels: labels, k: k, seed: 42)
        #expect(folds.count == k)
        var seen = [Int]()
        for f in folds {
            #expect(Set(f.train).isDisjoint(with: f.test))
            #expect(Set(f.train).union(f.test) == Set(0..<37))
            seen += f.test
            let pos = f.test.filter { labels[$0] }.count
            #expect(pos == 13 / k || pos == 13 / k + 1)
            let neg = f.test.count - pos
            #expect(neg == 24 / k || neg == 24 / k + 1)
        }
        #expect(seen.sorted() == Array(0..<37))
    }

    @Test("stratified k-fold is deterministic per seed")
    func deterministic() {
        let labels = (0..<20).map { $0 < 8 }
        #expect(CrossValidation.stratifiedKFold(labels: labels, k: 4, seed: 1) == CrossValidation.stratifiedKFold(labels: labels, k: 4, seed: 1))
        #expect(CrossValidation.stratifiedKFold(labels: labels, k: 4, seed: 1) != CrossValidation.stratifiedKFold(labels: labels, k: 4, seed: 2))
    }

    @Test("leave-one-group-out holds out exactly one group per fold")
    func leaveOneGroupOut() {
        let groups = ["a", "b", "a", "c", "b", "c", "c"]
        let folds = CrossValidation.leaveOneGroupOut(groups: groups)
        #expect(folds.map(\.name) == ["a", "b", "c"])
        for f in folds {
            #expect(f.test.allSatisfy { groups[$0] == f.name })
            #expect(f.train.allSatisfy { groups[$0] != f.name })
            #expect(f.train.count + f.test.count == groups.count)
        }
        #expect(CrossValidation.leaveOneGroupOut(groups: ["a", "a"]).isEmpty)
    }

    @Test("leave-one-trigger-kind-out: each fold tests one kind's poisoned adapters and its share of the benign ones")
    func byTriggerKind() {
        // 12 poisoned (kinds a, b, c and one without a kind) and 10 benign
        let kinds: [String?] = ["b", "a", "c", "a", "b", "c", "a", nil, "b", "c", "a", "b"] + [String?](repeating: "x", count: 10)
        let labels = (0..<22).map { $0 < 12 }
        let folds = CrossValidation.leaveOneKindOut(labels: labels, kinds: kinds, seed: 3)
        #expect(folds.map(\.name) == ["a", "b", "c"])
        var benignTested = [Int]()
        for f in folds {
            #expect(Set(f.train).isDisjoint(with: f.test))
            #expect(Set(f.train).union(f.test) == Set(0..<22))
            let poisoned = f.test.filter { labels[$0] }
            #expect(poisoned == (0..<12).filter { kinds[$0] == f.name })
            // no adapter of the held-out kind trains the fold
            #expect(!f.train.contains { labels[$0] && kinds[$0] == f.name })
            // the poisoned adapter without a kind always trains
            #expect(f.train.contains(7))
            let benign = f.test.filter { !labels[$0] }
            #expect(benign.count == 3 || benign.count == 4)
            benignTested += benign
        }
        // every benign adapter is tested exactly once (its kind, here "x", is ignored)
        #expect(benignTested.sorted() == Array(12..<22))
        #expect(CrossValidation.leaveOneKindOut(labels: labels, kinds: kinds, seed: 3) == folds)
    }

    @Test("leave-one-trigger-kind-out needs two kinds")
    func byTriggerKindNeedsTwo() {
        #expect(CrossValidation.leaveOneKindOut(labels: [true, true, false], kinds: ["a", "a", nil]).isEmpty)
    }
}
