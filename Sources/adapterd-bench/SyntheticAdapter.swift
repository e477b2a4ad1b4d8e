import AdapterCore

/// Synthetic adapters with the shapes of a Llama-3.2-3B LoRA (28 layers; q, o 3072→3072; k, v 3072→1024).
enum SyntheticAdapter {
    static let layers = 28
    static let hidden = 3072
    static let kvWidth = 1024

    static func outFeatures(_ projection: Projection) -> Int {
        projection == .k || projection == .v ? kvWidth : hidden
    }

    /// A rank-`rank` adapter with random factors (A uniform in ±1/√in like PEFT's init, B uniform in
    /// ±0.02 as after training) and lora_alpha = 2r.
    static func llama3B(rank: Int = 16, seed: UInt64) -> LoRAAdapter {
        adapter(layers: layers, hidden: hidden, kvWidth: kvWidth, rank: rank, seed: seed)
    }

    /// The same kind of adapter with other dimensions (q, k, v, o of `layers` layers; q, o
    /// hidden→hidden, k, v hidden→kvWidth).
    static func adapter(layers: Int, hidden: Int, kvWidth: Int, rank: Int, seed: UInt64) -> LoRAAdapter {
        var rng = SeededGenerator(seed: seed)
        let scale = 2.0
        var modules: [LoRAModule] = []
        for layer in 0..<layers {
            for projection in Projection.allCases {
                let out = projection == .k || projection == .v ? kvWidth : hidden
                let bound = 1 / Double(hidden).squareRoot()
                let a = Matrix(rows: rank, cols: hidden,
                               elements: (0..<(rank * hidden)).map { _ in (rng.nextUnitDouble() * 2 - 1) * bound })
                let b = Matrix(rows: out, cols: rank,
                               elements: (0..<(out * rank)).map { _ in (rng.nextUnitDouble() * 2 - 1) * 0.02 })
                modules.append(LoRAModule(
                    name: "model.layers.\(layer).self_attn.\(projection.rawValue)_proj", layer: layer,
                    projection: projection, a: a, b: b, scale: scale))
            }
        }
        let config = PEFTConfig(
            baseModelNameOrPath: "meta-llama/Llama-3.2-3B", r: rank, loraAlpha: Double(2 * rank),
            targetModules: ["q_proj", "k_proj", "v_proj", "o_proj"], taskType: "CAUSAL_LM")
        let bytes = modules.reduce(0) { $0 + ($1.a.elements.count + $1.b.elements.count) * 2 }
        return LoRAAdapter(config: config, modules: modules, architecture: .llama, storageDType: .f16, tensorBytes: bytes)
    }

    /// A member of `family`'s cluster: its factors are the family's plus noise of `spread` times
    /// their size (uniform, seeded by `seed`), so members share most of their update.
    static func member(of family: LoRAAdapter, spread: Double, seed: UInt64) -> LoRAAdapter {
        var rng = SeededGenerator(seed: seed)
        func perturbed(_ m: Matrix) -> Matrix {
            let size = m.elements.reduce(0) { max($0, abs($1)) }
            return Matrix(rows: m.rows, cols: m.cols,
                          elements: m.elements.map { $0 + (rng.nextUnitDouble() * 2 - 1) * size * spread })
        }
        let modules = family.modules.map { module in
            var changed = module
            changed.a = perturbed(module.a)
            changed.b = perturbed(module.b)
            return changed
        }
        return LoRAAdapter(config: family.config, modules: modules, architecture: family.architecture,
                           storageDType: family.storageDType, tensorBytes: family.tensorBytes)
    }
}

/// Wall-clock timing helpers.
enum Stopwatch {
    /// Seconds taken by `body`, and its result.
    static func time<T>(_ body: () throws -> T) rethrows -> (seconds: Double, value: T) {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try body()
        return (seconds(clock.now - start), value)
    }

    /// A duration in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// The fastest of `repetitions` runs (the least disturbed by other processes on the machine).
    static func best<T>(of repetitions: Int, _ body: () throws -> T) rethrows -> (seconds: Double, value: T) {
        var best = try time(body)
        for _ in 1..<max(1, repetitions) {
            let next = try time(body)
            if next.seconds < best.seconds { best = next }
        }
        return best
    }

    /// The median of `repetitions` runs (robust to other processes on a shared machine), with the
    /// last run's result.
    static func median<T>(of repetitions: Int, _ body: () throws -> T) rethrows -> (seconds: Double, value: T) {
        var last = try time(body)
        var times = [last.seconds]
        for _ in 1..<max(1, repetitions) {
            last = try time(body)
            times.append(last.seconds)
        }
        times.sort()
        let middle = times.count / 2
        let median = times.count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2
        return (median, last.value)
    }

    static func format(_ seconds: Double) -> String {
        if seconds >= 1 { return String(format: "%.2f s", seconds) }
        return String(format: "%.2f ms", seconds * 1000)
    }
}
