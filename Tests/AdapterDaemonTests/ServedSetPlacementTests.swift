import AdapterCore
import AdapterProtocol
import Foundation
import Synchronization
import Testing
@testable import AdapterDaemon

/// `install-plan = place`: an install over the budget places its task into the served set in force,
/// and every task is planned again in the background once the installs settle.
@Suite struct ServedSetPlacementTests {
    static let installs = [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b"), ("llama_gqa_task_c", "c"), ("llama_gqa_f16", "d")]

    /// The served set's policy once the background plan has run (nil: still placed after `seconds`).
    static func settledStatus(_ fixture: AdapterServiceTests.Fixture, seconds: Double = 60) async throws -> ServedSetInfo? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let served = try fixture.service.reads.status(fixture.context).served, served.policy != PlacementPolicy.placed {
                return served
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// With 2 compute threads placements read members and curves split modules over two threads.
    @Test(arguments: [1, 2])
    func anInstallOverTheBudgetIsPlacedAndEveryTaskPlannedAgainAfter(computeThreads: Int) async throws {
        let before = ComputeThreads.count
        ComputeThreads.set(computeThreads)
        defer { ComputeThreads.set(before) }
        let budget = 60_000
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .place }, budgetOverride: .bytes(Int64(budget)))
        var placed = 0
        var decodedWhilePlaced = 0
        for (name, task) in Self.installs {
            let result = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
            let served = try #require(try fixture.service.reads.status(fixture.context).served)
            // Whatever the install did, the served set it answers with routes every task within the budget.
            #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= Int64(budget))
            #expect(Set(served.tasks.map(\.task)) == Set(Self.installs.prefix { $0.1 <= task }.map(\.1)))
            #expect(served.generation == result.generation)
            // The answer says how the task is served there.
            let entry = try #require(served.tasks.first { $0.task == task })
            #expect(result.retainedQuality == entry.retainedQuality)
            #expect(result.evaluator == entry.evaluator)
            #expect((result.placement != nil) == (served.policy == PlacementPolicy.placed))
            if served.policy == PlacementPolicy.placed {
                placed += 1
                #expect(fixture.service.replanner.servesPlacedTasks())
                // The placed task's figure is the evaluator's, not a stand-in.
                let own = try #require(served.tasks.first { $0.task == task })
                #expect(own.retainedQuality > 0 && own.retainedQuality <= 1 + 1e-9)
                #expect(["weight-space", "own-adapters"].contains(own.evaluator ?? ""))
                decodedWhilePlaced = max(decodedWhilePlaced, fixture.service.replanner.planner.decoded.count)
                // Only adapters an installed task or the served set in force holds stay decoded (once the
                // memory release after the change has run): not the served adapters a placement replaced.
                let live = Set(try fixture.store.tasks().map(\.adapter.weightsDigest)
                               + (try #require(try fixture.store.currentGeneration())).servedAdapters.map(\.weightsDigest))
                let deadline = Date().addingTimeInterval(10)
                while !fixture.service.replanner.planner.decoded.keptWeights.isSubset(of: live) && Date() < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(fixture.service.replanner.planner.decoded.keptWeights.isSubset(of: live))
            }
        }
        #expect(placed >= 1, "no install was placed: the budget holds every adapter or placement declined")
        // Placements read stored adapters once and keep them decoded while a plan of every task is due…
        #expect(decodedWhilePlaced > 0)
        // The background plan replaces the placed set with a plan of every task, as recluster makes it,
        // unless the placed set scores higher (then it stays, policy placed-kept).
        let placedMean = try #require(try fixture.service.reads.status(fixture.context).served?.meanRetainedQuality)
        let settled = try #require(try await Self.settledStatus(fixture), "the background plan did not run within 60 s")
        #expect(!fixture.service.replanner.servesPlacedTasks())
        // …and none once it has run.
        let deadline = Date().addingTimeInterval(10)
        while fixture.service.replanner.planner.decoded.count > 0 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fixture.service.replanner.planner.decoded.count == 0)
        let full = try await fixture.service.replanner.recluster(ReclusterParams(dryRun: true), fixture.context)
        let settledClusters: Set<[String]> = Set(settled.clusters.map { $0.tasks.sorted() })
        let fullClusters: Set<[String]> = Set(full.clusters.map { $0.tasks.sorted() })
        if settled.policy == PlacementPolicy.placedKept {
            #expect(full.meanRetainedQuality < placedMean)
            #expect(abs((settled.meanRetainedQuality ?? 0) - placedMean) < 1e-9)
        } else {
            #expect(settledClusters == fullClusters)
            #expect(abs((settled.meanRetainedQuality ?? 0) - full.meanRetainedQuality) < 1e-9)
        }
        #expect(settled.clusters.reduce(0) { $0 + $1.bytes } <= Int64(budget))
    }

    /// `full` (and `auto` below 64 MiB and 17 adapters, as in every other test) plans every task before
    /// the install answers: nothing is ever placed.
    @Test func fullPlansEveryTaskAtInstall() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .full }, budgetOverride: .bytes(60_000))
        for (name, task) in Self.installs {
            let result = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
            let served = try #require(try fixture.service.reads.status(fixture.context).served)
            #expect(served.policy != PlacementPolicy.placed)
            #expect(result.placement == nil)
            #expect(result.retainedQuality == served.tasks.first { $0.task == task }?.retainedQuality)
        }
        #expect(InstallPlanKind.auto.places(installedBytes: 64 << 20, installedTasks: 16) == false)
        #expect(InstallPlanKind.auto.places(installedBytes: (64 << 20) + 1, installedTasks: 2))
        #expect(InstallPlanKind.auto.places(installedBytes: 1 << 20, installedTasks: 17))
        #expect(InstallPlanKind.full.places(installedBytes: 1 << 40, installedTasks: 1000) == false)
        #expect(InstallPlanKind.place.places(installedBytes: 1, installedTasks: 1))
    }

    /// `auto` places the seventeenth installed task (small adapters: the task count, not the bytes).
    @Test func autoPlacesOnceMoreThanSixteenTasksAreInstalled() async throws {
        let fixture = try AdapterServiceTests.Fixture(budgetOverride: .bytes(60_000))
        fixture.service.replanner.scheduledPlanDelay.withLockedValue { $0 = .seconds(600) }
        var placements: [Bool] = []
        for i in 0..<17 {
            let (name, _) = Self.installs[i % 3]
            let result = try await fixture.service.installer.install(try fixture.params(name, task: "t\(i)"), fixture.context)
            placements.append(result.placement != nil)
        }
        #expect(placements == [Bool](repeating: false, count: 16) + [true])
        #expect(try fixture.service.reads.status(fixture.context).served?.policy == PlacementPolicy.placed)
    }

    /// A placed served set kept (it scored higher than the plan of every task) is written again as it
    /// is: the same served files and figures, policy placed-kept, and nothing is scheduled after it.
    @Test func aKeptPlacedSetIsWrittenAgainUnchanged() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .place }, budgetOverride: .bytes(60_000))
        fixture.service.replanner.scheduledPlanDelay.withLockedValue { $0 = .seconds(600) }
        for (name, task) in Self.installs {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        let placed = try #require(try fixture.service.reads.status(fixture.context).served)
        try #require(placed.policy == PlacementPolicy.placed)
        let replanner = fixture.service.replanner
        _ = try await replanner.mutating {
            let kept = try #require(try ServedSetPlacement(store: fixture.store, planner: replanner.planner)
                .keepingCurrent(budget: try replanner.budget.limit()))
            return try await replanner.write(kept, budget: try replanner.budget.limit(), context: nil, at: 0.9)
        }
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.policy == PlacementPolicy.placedKept)
        #expect(served.generation > placed.generation)
        #expect(served.clusters.map(\.sha256) == placed.clusters.map(\.sha256))
        #expect(served.clusters.map(\.tasks) == placed.clusters.map(\.tasks))
        #expect(served.tasks.map(\.retainedQuality) == placed.tasks.map(\.retainedQuality))
        #expect(!replanner.servesPlacedTasks())
    }

    /// Freed memory stays with the daemon while a plan of every task is due (the next install of a
    /// burst would take it again) and goes back to the system, with the decoded adapters, once that
    /// plan has run.
    @Test func freedMemoryIsGivenBackOnceThePlanOfEveryTaskHasRun() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .place }, budgetOverride: .bytes(60_000))
        let replanner = fixture.service.replanner
        replanner.scheduledPlanDelay.withLockedValue { $0 = .seconds(600) }
        for (name, task) in Self.installs {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        try #require(replanner.servesPlacedTasks())
        let before = replanner.memoryReleases.load(ordering: .relaxed)
        await replanner.releaseFreedMemory()
        #expect(replanner.memoryReleases.load(ordering: .relaxed) == before)
        #expect(replanner.planner.decoded.count > 0)
        replanner.scheduledPlanDelay.withLockedValue { $0 = .milliseconds(1) }
        replanner.scheduleFullPlan()
        _ = try #require(try await Self.settledStatus(fixture), "the background plan did not run within 60 s")
        let deadline = Date().addingTimeInterval(10)
        while replanner.memoryReleases.load(ordering: .relaxed) == before && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(replanner.memoryReleases.load(ordering: .relaxed) > before)
        #expect(replanner.planner.decoded.count == 0)
    }

    /// Re-installing tasks while the served set is placed: each new version is served (placed where its
    /// old one stood alone, else every task planned), every task stays routed, the budget holds.
    @Test func reinstallsWhilePlacedServeTheNewVersion() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .place }, budgetOverride: .bytes(60_000))
        fixture.service.replanner.scheduledPlanDelay.withLockedValue { $0 = .seconds(600) }
        for (name, task) in Self.installs {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        var placed = 0
        for (name, task) in Self.installs.reversed() {
            let result = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
            #expect(result.version == 2)
            if result.placement != nil { placed += 1 }
            let served = try #require(try fixture.service.reads.status(fixture.context).served)
            #expect(Set(served.tasks.map(\.task)) == Set(Self.installs.map(\.1)))
            #expect(served.tasks.first { $0.task == task }?.version == 2)
            #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= 60_000)
            let route = try fixture.service.reads.route(RouteParams(task: task))
            #expect(route.generation == served.generation)
        }
        #expect(placed >= 1, "no re-install was placed")
    }

    /// A change while the placed set waits for its plan (here a removal) plans every task itself.
    @Test func aRemovalPlansEveryTaskAndNothingStaysPlaced() async throws {
        let fixture = try AdapterServiceTests.Fixture(settings: { $0.installPlan = .place }, budgetOverride: .bytes(60_000))
        for (name, task) in Self.installs {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        _ = try await fixture.service.installer.remove(TaskParams(task: "b"), fixture.context)
        let served = try #require(try fixture.service.reads.status(fixture.context).served)
        #expect(served.policy != PlacementPolicy.placed)
        #expect(Set(served.tasks.map(\.task)) == ["a", "c", "d"])
        #expect(served.clusters.reduce(0) { $0 + $1.bytes } <= 60_000)
    }
}
