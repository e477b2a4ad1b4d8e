@testable import AdapterCore
@testable import AdapterDaemon
import AdapterStore
import Foundation
import Testing

/// Stored adapters decoded once and kept by content digest while a plan of every task is due
/// (`DecodedAdapters`): a second read comes from memory, dropped entries are read (and verified) again.
@Suite struct DecodedAdaptersTests {
    /// A daemon with tasks a and b installed, and their stored adapters.
    static func twoInstalled() async throws -> (AdapterServiceTests.Fixture, InstalledAdapter, InstalledAdapter) {
        let fixture = try AdapterServiceTests.Fixture()
        for (name, task) in [("llama_gqa_f16", "a"), ("llama_gqa_task_b", "b")] {
            _ = try await fixture.service.installer.install(try fixture.params(name, task: task), fixture.context)
        }
        return (fixture, try #require(try fixture.store.task(named: "a")).adapter,
                try #require(try fixture.store.task(named: "b")).adapter)
    }

    @Test func keptAdaptersAreNotReadAgainAndDroppedOnesAre() async throws {
        let (fixture, a, b) = try await Self.twoInstalled()
        let decoded = DecodedAdapters()
        let first = try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store)
        _ = try decoded.adapter(config: b.configDigest, weights: b.weightsDigest, in: fixture.store)
        #expect(decoded.count == 2)
        #expect(decoded.keptWeights == [a.weightsDigest, b.weightsDigest])
        #expect(first.modules.count > 0)

        // a's file changes on disk: the kept adapter is what the store held when it was read.
        try DamagedTaskPlanningTests.flipBit(fixture, a.weightsDigest)
        let again = try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store)
        #expect(again.modules.map(\.a) == first.modules.map(\.a))

        // Only the live ones stay; a dropped entry is read again, and the store finds the damage.
        decoded.keep(onlyWeights: [b.weightsDigest])
        #expect(decoded.keptWeights == [b.weightsDigest])
        #expect(throws: StoreError.self) {
            _ = try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store)
        }
        #expect(decoded.count == 1)
        decoded.removeAll()
        #expect(decoded.count == 0)
    }

    /// The Gram blocks placements form from kept adapters go with them: those of a dropped adapter
    /// when it is dropped, every block when all are.
    @Test func gramBlocksGoWithTheirAdapters() async throws {
        let (fixture, a, b) = try await Self.twoInstalled()
        let decoded = DecodedAdapters()
        let adapters = [try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store),
                        try decoded.adapter(config: b.configDigest, weights: b.weightsDigest, in: fixture.store)]
        let grams = try #require(FactorGrams(adapters: adapters, shared: decoded.grams))
        _ = grams.grams(module: 0, members: [0, 1])
        let all = decoded.grams.keptBytes
        #expect(all > 0)
        decoded.keep(onlyWeights: [b.weightsDigest])
        #expect(decoded.grams.keptBytes > 0 && decoded.grams.keptBytes < all)   // b's own block stays
        decoded.removeAll()
        #expect(decoded.grams.keptBytes == 0)
    }

    @Test func anAdapterKeptAtInstallIsNotReadFromTheStore() async throws {
        let fixture = try AdapterServiceTests.Fixture()
        _ = try await fixture.service.installer.install(try fixture.params("llama_gqa_f16", task: "a"), fixture.context)
        let a = try #require(try fixture.store.task(named: "a")).adapter
        let stored = try PEFTAdapterLoader.load(configJSON: try fixture.store.read(a.configDigest),
                                                safetensors: try fixture.store.read(a.weightsDigest))
        // Kept under these digests, it is what a read returns even once the file is damaged: no read happens.
        let decoded = DecodedAdapters()
        decoded.keep(stored, config: a.configDigest, weights: a.weightsDigest)
        try DamagedTaskPlanningTests.flipBit(fixture, a.weightsDigest)
        let kept = try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store)
        #expect(kept.modules == stored.modules)
        #expect(decoded.keptWeights == [a.weightsDigest])
        decoded.removeAll()
        #expect(throws: StoreError.self) {
            _ = try decoded.adapter(config: a.configDigest, weights: a.weightsDigest, in: fixture.store)
        }
    }
}
