import AdapterCore
import ArgumentParser

/// The synthetic workload of `recluster` and `plan`: N adapters of one shape and rank in F families
/// (members lie ±spread around their family's factors), under a budget of a fraction of their bytes.
struct SyntheticFamilyOptions: ParsableArguments {
    @Option(help: "Families F: adapters of one family share most of their update.") var families = 4
    @Option(help: "Budget as a fraction of the bytes of all N own adapters.") var fraction = 0.125
    @Option(help: "Adapter shape: 3b (Llama-3.2-3B q, k, v, o over 28 layers) or small (4 layers, width 256).")
    var shape: ReclusterShape = .threeB
    @Option(help: "LoRA rank.") var rank = 16
    @Option(help: "How far a member's factors lie from its family's (noise as a fraction of their size).")
    var spread = 0.2

    func validate() throws {
        guard families > 0, fraction > 0, rank > 0, spread >= 0 else {
            throw ValidationError("--families, --fraction and --rank must be positive, --spread not negative")
        }
    }

    /// Each family's adapter (seeded: the same for every run).
    func familyAdapters() -> [LoRAAdapter] {
        (0..<families).map { shape.adapter(rank: rank, seed: UInt64(1000 + $0)) }
    }

    /// Task `index` of `count`: its name and adapter, a member of family index mod F.
    func member(_ index: Int, of count: Int, families familyAdapters: [LoRAAdapter]) -> (task: String, adapter: LoRAAdapter) {
        let family = index % familyAdapters.count
        return ("f\(family)-t\(index)",
                SyntheticAdapter.member(of: familyAdapters[family], spread: spread, seed: UInt64(count * 10_000 + index)))
    }
}
