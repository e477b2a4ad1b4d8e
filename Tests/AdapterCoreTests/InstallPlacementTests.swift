import Testing
@testable import AdapterCore

/// Placing one installed task into a served set without planning the others again.
@Suite struct InstallPlacementTests {
    static let sizer = RankAllocationTests.sizer
    static let spectrum = JointBudgetPlannerTests.spectrum

    static func task(_ name: String, offset: Int) -> TaskProfile {
        JointBudgetPlannerTests.task(name, base: "base/qv", projections: JointBudgetPlannerTests.qv,
                                     spectrum: spectrum, offset: offset)
    }

    /// Served now: a0 and a1 (the same update) merged at rank 8, b0 by its own file.
    static func servedSet() throws -> (clusters: [InstallPlacement.ServedCluster], used: Int) {
        let a = [task("a0", offset: 0), task("a1", offset: 0)]
        let b = task("b0", offset: 24)
        let merged = try SVDClusterMerger().merge(a.map(\.adapter), weights: [0.5, 0.5], rank: 8)
        let mergedBytes = try BudgetPlanner(tasks: a, sizer: sizer).mergedBytes(rank: 8)
        let clusters = [
            InstallPlacement.ServedCluster(members: ["a0", "a1"], bytes: mergedBytes, quality: ["a0": 1, "a1": 1],
                                           served: { merged }, profiles: { a }),
            InstallPlacement.ServedCluster(members: ["b0"], bytes: b.ownBytes, quality: ["b0": 1],
                                           served: { b.adapter }, profiles: { [b] }),
        ]
        return (clusters, mergedBytes + b.ownBytes)
    }

    @Test func takesItsOwnFileWhenTheFreeBytesHoldIt() async throws {
        let (clusters, used) = try Self.servedSet()
        let new = Self.task("c0", offset: 40)
        let placement = try #require(try await InstallPlacement(sizer: Self.sizer)
            .place(new, beside: clusters, budget: used + new.ownBytes))
        guard case .ownFile = placement.home else { Issue.record("expected its own file, got \(placement.home)"); return }
        #expect(placement.quality == ["c0": 1])
        #expect(placement.evaluations == 0)
    }

    @Test func joinsTheClusterOfItsFamilyWhenThatKeepsMore() async throws {
        let (clusters, used) = try Self.servedSet()
        let new = Self.task("a2", offset: 0)   // the update a0 and a1 share
        let rankOne = try BudgetPlanner(tasks: [new], sizer: Self.sizer).mergedBytes(rank: 1)
        let budget = used + rankOne   // alone it could keep rank 1 only
        let placement = try #require(try await InstallPlacement(sizer: Self.sizer).place(new, beside: clusters, budget: budget))
        guard case .joined(let cluster, let adapter, let rank, let bytes) = placement.home else {
            Issue.record("expected to join a0 and a1, got \(placement.home)"); return
        }
        #expect(cluster == 0)
        #expect(rank == 8)
        #expect(used - clusters[0].bytes + bytes <= budget)
        #expect(bytes == (try Self.sizer(adapter, .f16)))
        // The figures are the evaluator's: each member's score of the merge over its own.
        let evaluator = WeightSpaceEvaluator()
        for member in [Self.task("a0", offset: 0), Self.task("a1", offset: 0), new] {
            let expected = try await evaluator.score(task: member, candidate: adapter)
                / (try await evaluator.score(task: member, candidate: member.adapter))
            #expect(abs(try #require(placement.quality[member.name]) - expected) < 1e-12)
            #expect(expected > 0.999)
        }
        // Alone at rank 1 was scored too, and kept less.
        let alone = Self.spectrum[0] * Self.spectrum[0] / Self.spectrum.reduce(0) { $0 + $1 * $1 }
        #expect(placement.considered.contains { $0.hasPrefix("alone at rank 1") })
        #expect(placement.gain > alone)
    }

    /// With the weight-space evaluator and the SVD merger a join is scored from its rank curve and
    /// merged only when chosen; the same evaluator behind a wrapper scores every merge it forms. Both
    /// must place the task alike, with the same figures.
    @Test func joinsScoredFromRankCurvesMatchScoringTheirMerges() async throws {
        let (clusters, used) = try Self.servedSet()
        for (new, extra) in [(Self.task("a2", offset: 2), 1), (Self.task("c0", offset: 40), 4)] {
            let budget = used + (try BudgetPlanner(tasks: [new], sizer: Self.sizer).mergedBytes(rank: extra))
            let byCurve = try #require(try await InstallPlacement(sizer: Self.sizer).place(new, beside: clusters, budget: budget))
            let byMerges = try #require(try await InstallPlacement(evaluator: CachingEvaluator(WeightSpaceEvaluator()),
                                                                    sizer: Self.sizer).place(new, beside: clusters, budget: budget))
            #expect(byCurve.home.rank == byMerges.home.rank)
            #expect(byCurve.considered.count == byMerges.considered.count)
            #expect(Set(byCurve.quality.keys) == Set(byMerges.quality.keys))
            for (name, value) in byMerges.quality {
                #expect(abs(try #require(byCurve.quality[name]) - value) < 1e-9, "\(new.name): \(name)")
            }
            #expect(abs(byCurve.gain - byMerges.gain) < 1e-9)
            // Two joins scored without merging: only the task's own score and its alone option.
            #expect(byCurve.evaluations == 2)
            #expect(byMerges.evaluations > byCurve.evaluations)
        }
    }

    /// Placements that share Gram blocks (the daemon's, from one install of a burst to the next) place
    /// every task as placements that compute their own, with the same figures, and keep the blocks.
    @Test func placementsSharingGramBlocksPlaceAlike() async throws {
        let (clusters, used) = try Self.servedSet()
        let shared = SharedGramBlocks()
        for (new, extra) in [(Self.task("a2", offset: 2), 1), (Self.task("c0", offset: 40), 4), (Self.task("a3", offset: 1), 1)] {
            let budget = used + (try BudgetPlanner(tasks: [new], sizer: Self.sizer).mergedBytes(rank: extra))
            let computing = try #require(try await InstallPlacement(sizer: Self.sizer).place(new, beside: clusters, budget: budget))
            let before = shared.keptBytes
            let sharing = try #require(try await InstallPlacement(sizer: Self.sizer)
                .place(new, beside: clusters, budget: budget, grams: shared))
            #expect(sharing.home.rank == computing.home.rank)
            #expect(sharing.considered.count == computing.considered.count)
            #expect(Set(sharing.quality.keys) == Set(computing.quality.keys))
            for (name, value) in computing.quality {
                #expect(abs(try #require(sharing.quality[name]) - value) < 1e-9, "\(new.name): \(name)")
            }
            #expect(abs(sharing.gain - computing.gain) < 1e-9)
            #expect(shared.keptBytes > before)
        }
    }

    @Test func staysAloneWhenJoiningWouldCostTheMembersMore() async throws {
        let (clusters, used) = try Self.servedSet()
        let new = Self.task("c0", offset: 40)   // orthogonal to every served update
        let rankFour = try BudgetPlanner(tasks: [new], sizer: Self.sizer).mergedBytes(rank: 4)
        let placement = try #require(try await InstallPlacement(sizer: Self.sizer)
            .place(new, beside: clusters, budget: used + rankFour))
        guard case .alone(_, let rank, let bytes) = placement.home else {
            Issue.record("expected alone, got \(placement.home)"); return
        }
        #expect(rank == 4)
        #expect(bytes <= rankFour)
        #expect(placement.considered.count == 3)   // alone, and the two nearest clusters
    }

    @Test func declinesWhenNothingFits() async throws {
        let (clusters, used) = try Self.servedSet()
        // Another base model: no served cluster can take it, and no byte is free.
        let other = JointBudgetPlannerTests.task("x0", base: "base/other", projections: JointBudgetPlannerTests.qv,
                                                 spectrum: Self.spectrum, offset: 0)
        #expect(try await InstallPlacement(sizer: Self.sizer).place(other, beside: clusters, budget: used) == nil)
    }

    @Test func aCancelledPlacementStops() async throws {
        let (clusters, used) = try Self.servedSet()
        let new = Self.task("a2", offset: 0)
        let task = Task {
            try await InstallPlacement(sizer: Self.sizer).place(new, beside: clusters, budget: used + 1)
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
