import AdapterCore
import ArgumentParser

/// `--runtime-precision`: what a base model's linear maps multiply in (scan, detector behaviour), as the
/// daemon's `runtime-precision` setting.
struct RuntimePrecisionOption: ParsableArguments {
    @Option(name: .long, help: "What the base model's linear maps multiply in: auto (bfloat16 where the CPU has AVX512_BF16, else float32), float32 or bfloat16.")
    var runtimePrecision: RuntimePrecision.Choice = .auto
}

extension RuntimePrecision.Choice: ExpressibleByArgument {}
