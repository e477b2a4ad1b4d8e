// swift-tools-version:6.1
// adapterd: a storage-budgeted, screened set of merged LoRA adapters, served over a Unix socket.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "adapterd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "adapterd", targets: ["adapterd"]),
        .executable(name: "adapterctl", targets: ["adapterctl"]),
        .executable(name: "adapterd-bench", targets: ["adapterd-bench"]),
        .library(name: "AdapterCore", targets: ["AdapterCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C system libraries and shims.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CPeerCred"),
        // CPU vector units from CPUID, for the check of OpenBLAS's kernels (BLASKernels).
        .target(name: "CCPUFeatures"),
        // F16 ↔ F64 in bulk (AdapterCore's `HalfPrecision`): decoding with the CPU's F16C conversion,
        // encoding by a loop built for AVX2, where the CPU has them; the package is built for baseline
        // x86-64, whose vector code converts in SSE2 bit manipulations.
        .target(name: "CHalfPrecision"),
        // The forward pass's elementwise kernels (GELU) built for AVX-512 or AVX2, found at run time;
        // the package itself is built for baseline x86-64, whose vector code is 4 floats wide.
        .target(name: "CFloatKernels"),

        // Byte sizes and the byte budget (`ByteSize`, `Budget`): plain values with no dependencies,
        // shared (and re-exported) by AdapterCore and AdapterProtocol so both carry the one budget type.
        .target(name: "ByteSizes", swiftSettings: strict),
        // The one reader of JSON string escapes (`JSONStringBody`), no dependencies: StrictJSON in
        // AdapterCore (files) and the request scanner in AdapterProtocol (the socket) share it.
        .target(name: "JSONStrings", swiftSettings: strict),

        // Pure core: formats, factored low-rank math, screening, merging, clustering, routing. Its
        // resources (the default detector models) are read with `ShippedFiles`, never `Bundle.module`.
        .target(
            name: "AdapterCore",
            dependencies: ["ByteSizes", "JSONStrings", "COpenBLAS", "CHalfPrecision", "CFloatKernels"],
            resources: [.process("Resources")],
            swiftSettings: strict),
        // Offline detector training and evaluation (adapterctl detector …): corpus manifests, fits,
        // cross-validation, metrics, packaging of the default models. The daemon never links it.
        .target(name: "AdapterTraining", dependencies: ["AdapterCore"], swiftSettings: strict),
        // Whether OpenBLAS runs kernels that fit the CPU, and the one re-execution with ones that do:
        // process-level, so outside the core; used by adapterd and by adapterctl's offline screening.
        .target(name: "BLASKernels", dependencies: ["AdapterCore", "CCPUFeatures"], swiftSettings: strict),
        // SQLite catalog + content-addressed file store + generations.
        .target(
            name: "AdapterStore",
            dependencies: [
                "AdapterCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // JSON-RPC 2.0 messages, framing and error codes shared by daemon and CLI.
        .target(
            name: "AdapterProtocol",
            dependencies: [
                "ByteSizes", "JSONStrings",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // The daemon: socket server, handlers, access control, systemd integration, background jobs.
        .target(
            name: "AdapterDaemon",
            dependencies: [
                "AdapterCore", "AdapterStore", "AdapterProtocol", "CSystemd", "CPeerCred", "BLASKernels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict),
        // adapterctl's commands, as a library so tests can reach them.
        .target(
            name: "AdapterCLI",
            dependencies: [
                "AdapterCore", "AdapterTraining", "AdapterProtocol", "BLASKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),

        .executableTarget(
            name: "adapterd",
            dependencies: [
                "AdapterCore", "AdapterDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(name: "adapterctl", dependencies: ["AdapterCLI"], swiftSettings: strict),
        .executableTarget(
            name: "adapterd-bench",
            dependencies: [
                "AdapterCore", "AdapterStore", "AdapterProtocol", "AdapterDaemon", "BLASKernels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // libFuzzer targets (tools/fuzz/run.sh, docs/FUZZING.md); in a normal build each replays the
        // files given as arguments.
        .target(name: "FuzzSupport", swiftSettings: strict),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["AdapterCore", "FuzzSupport"], swiftSettings: strict),
        .executableTarget(name: "FuzzPEFTConfig", dependencies: ["AdapterCore", "FuzzSupport"], swiftSettings: strict),
        .executableTarget(name: "FuzzPEFTLoader", dependencies: ["AdapterCore", "FuzzSupport"], swiftSettings: strict),
        .executableTarget(name: "FuzzExamples", dependencies: ["AdapterCore", "FuzzSupport"], swiftSettings: strict),
        .executableTarget(
            name: "FuzzProtocol",
            dependencies: [
                "AdapterProtocol", "FuzzSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // Synthetic adapters shared by the core, training and daemon test targets.
        .target(name: "AdapterCoreTestSupport", dependencies: ["AdapterCore"], path: "Tests/AdapterCoreTestSupport",
                swiftSettings: strict),
        .testTarget(
            name: "AdapterCoreTests", dependencies: ["AdapterCore", "AdapterCoreTestSupport", "CFloatKernels"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "BLASKernelsTests", dependencies: ["BLASKernels"], swiftSettings: strict),
        .testTarget(name: "JSONStringsTests", dependencies: ["JSONStrings"], swiftSettings: strict),
        .testTarget(
            name: "AdapterTrainingTests", dependencies: ["AdapterTraining", "AdapterCore", "AdapterCoreTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "AdapterStoreTests",
            dependencies: ["AdapterStore", "AdapterCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        .testTarget(
            name: "AdapterProtocolTests",
            dependencies: [
                // AdapterCore for its seeded generator (SeededGenerator) in the property tests.
                "AdapterProtocol", "AdapterCore", "AdapterdTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // Helpers shared by the socket-level test targets.
        .target(name: "AdapterdTestSupport", path: "Tests/AdapterdTestSupport", swiftSettings: strict),
        .testTarget(
            name: "AdapterDaemonTests",
            dependencies: [
                "AdapterDaemon", "AdapterProtocol", "AdapterCore", "AdapterStore", "AdapterdTestSupport",
                "AdapterCoreTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "AdapterCLITests",
            dependencies: [
                "AdapterCLI", "AdapterCore", "AdapterProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // Spawns the real adapterd and adapterctl binaries (and a python3 client) on a temporary socket.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AdapterProtocol", "AdapterdTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["python_client.py"],
            swiftSettings: strict),
    ]
)
