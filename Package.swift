// swift-tools-version:6.1
// GemmaEdge: a Gemma 3 inference runtime for ARM single-board computers.
//
// Modules, bottom to top (each has one job; nothing below GemmaEdge knows about the CLI):
//   CKernels       C kernels: the type-traits table and scalar reference, AVX2 / AVX-512 / NEON / dotprod
//                  sets completed from it, run-time CPU detection (only Kernels imports it)
//   CIntegrity     CRC32C (SSE4.2 / ARMv8 CRC), non-finite scans, the SIGBUS guard of mapped files
//   Base           the monotonic clock and the one crash-safe file write (temp, fsync, rename, fsync)
//   GGUF           the file format: validated reader over one mmap (the weight arena), writer
//   Kernels        Swift face of CKernels: kernel set chosen once, matvec/matmul, SIMD element-wise ops,
//                  the repacked weight arena (kernel-ready layouts, cached beside the model)
//   Tokenizer      SentencePiece BPE from the GGUF vocabulary, libsentencepiece adapter, streaming
//   Sampling       greedy, temperature, top-k/top-p/min-p, repetition penalty, seeded RNG
//   Grammar        GBNF grammars and JSON Schema compiled to byte-level matchers and token masks
//   Gemma3         config from metadata, typed weight views, KV cache, the forward pass, its run
//                  state (activations, scratch) and attention over the cache
//   Vision         PNG/PPM input, the SigLIP encoder and projector of the 4B (mmproj), Pan & Scan
//   GemmaEdge      the engine API used by the CLI, the server and the profiler: the one prompt path
//                  (chat template pieces -> prompt items -> Session.prefill), sessions, generation
//   Profiler       power and energy sources, sampler, latency percentiles, reports and charts
//   Boards         board profiles, detection from /proc and /sys, the fit check, `doctor`
//   OpenAIRequests the OpenAI request bodies: decoding and range checks (no HTTP, fuzzed)
//   Service        the OpenAI-compatible HTTP server (Hummingbird)
//   Watchdog       supervisor, systemd notify, /dev/watchdog, GPIO status LED and button
//   gemma-edge     the command-line tool
//   FuzzTargets, gemma-edge-fuzz (Tests/Fuzz)  libFuzzer targets for every parser of untrusted bytes
import PackageDescription

// Release builds keep Swift's overflow and bounds checks in every module. -Ounchecked was kept for
// Kernels and Gemma3 (the kernels' Swift face and the forward pass) until measured: with it off there
// too, the real 270M Q4_0 executes 0.25 % more instructions per prefill token and 0.13 % more per
// decoded token (callgrind, Benchmarks/RESULTS.md, 2026-12-07): the arithmetic is in the C kernels, so
// the checks cost nothing measurable and everything keeps them.
let checked: [SwiftSetting] = [.unsafeFlags(["-wmo"], .when(configuration: .release))]

let package = Package(
    name: "GemmaEdge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gemma-edge", targets: ["gemma-edge"]),
        .library(name: "GemmaEdge", targets: ["GemmaEdge"]),
        // The kernels on their own, for Benchmarks/ (its own package).
        .library(name: "GemmaEdgeKernels", targets: ["Kernels", "CKernels", "GGUF"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.5.0"),
        // Hummingbird's own transport, named for the server's connection guard (a channel handler).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // C shims.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]
        ),
        .target(
            name: "CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17", "-O2"])],
            linkerSettings: [.linkedLibrary("sentencepiece")]
        ),

        .target(name: "CIntegrity", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png")]),
        // libgpiod 1.6 or 2.x is loaded at run time (dlopen), so a board without it still runs.
        .target(name: "CGPIOD", linkerSettings: [.linkedLibrary("dl")]),

        // Core library.
        .target(name: "Base", swiftSettings: checked),
        .target(name: "GGUF", dependencies: ["Base", "CIntegrity"], swiftSettings: checked),
        .target(name: "Kernels", dependencies: ["Base", "CKernels", "GGUF"], swiftSettings: checked),
        .target(name: "Tokenizer", dependencies: ["GGUF", "CSentencePiece"], swiftSettings: checked),
        .target(name: "Sampling", swiftSettings: checked),
        .target(name: "Grammar", dependencies: ["Sampling"], swiftSettings: checked),
        .target(name: "Gemma3", dependencies: ["Base", "GGUF", "Kernels"], swiftSettings: checked),
        .target(name: "Vision", dependencies: ["Base", "GGUF", "Kernels", "Gemma3", "CPNG"], swiftSettings: checked),
        .target(
            name: "GemmaEdge",
            dependencies: ["Base", "GGUF", "Kernels", "Gemma3", "Tokenizer", "Sampling", "Grammar", "Vision"],
            swiftSettings: checked
        ),

        // Around the engine: measurement, boards, serving, supervision.
        .target(
            name: "Profiler",
            dependencies: ["Base", "GemmaEdge", "CPNG", .product(name: "Histogram", package: "hdrhistogram-swift")],
            swiftSettings: checked
        ),
        .target(name: "Boards", dependencies: ["Base", "GemmaEdge", "Kernels", "GGUF", "Gemma3"], swiftSettings: checked),
        .target(name: "OpenAIRequests", dependencies: ["Sampling", "Tokenizer", "Grammar"], swiftSettings: checked),
        .target(
            name: "Service",
            dependencies: [
                "Base", "GemmaEdge", "Tokenizer", "Sampling", "Grammar", "Vision", "OpenAIRequests",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: checked
        ),
        .target(
            name: "Watchdog",
            dependencies: [
                "Base", "CGPIOD",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: checked
        ),

        // Tools.
        .executableTarget(
            name: "gemma-edge",
            dependencies: [
                "Base", "GemmaEdge", "Profiler", "Boards", "Service", "Watchdog", "Grammar",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: checked
        ),

        // Tests.
        .target(name: "TestSupport", dependencies: ["Base", "GGUF", "CKernels"], path: "Tests/TestSupport"),
        // The fuzz targets: one entry per parser, shared by the libFuzzer driver (built with
        // Tests/Fuzz/run-fuzzers.sh) and the regression tests that replay its findings.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "GGUF", "Tokenizer", "Kernels", "Gemma3", "Vision", "CPNG", "Profiler", "OpenAIRequests", "TestSupport",
                "Grammar",
            ],
            path: "Tests/Fuzz/Targets"
        ),
        .executableTarget(name: "gemma-edge-fuzz", dependencies: ["FuzzTargets"], path: "Tests/Fuzz/Driver"),
        .testTarget(name: "GGUFTests", dependencies: ["Base", "GGUF", "TestSupport", "FuzzTargets"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "GGUF", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF", "CSentencePiece", "TestSupport", "FuzzTargets"]),
        .testTarget(name: "SamplingTests", dependencies: ["Sampling"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar", "Sampling", "GemmaEdge", "Tokenizer", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "Gemma3Tests", dependencies: ["Base", "Gemma3", "GemmaEdge", "GGUF", "Kernels", "Sampling", "TestSupport",
                                                      "FuzzTargets"]),
        .testTarget(name: "VisionTests", dependencies: ["Base", "Vision", "GemmaEdge", "CPNG", "TestSupport", "FuzzTargets"]),
        .testTarget(name: "ProfilerTests", dependencies: ["Profiler", "CPNG", "TestSupport", "FuzzTargets"]),
        .testTarget(name: "BoardsTests", dependencies: ["Boards", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: [
            "Base", "Service", "TestSupport", "Watchdog", "OpenAIRequests", "FuzzTargets", "GemmaEdge", "Grammar",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .target(name: "CFakeGPIOD", path: "Tests/CFakeGPIOD"),
        .testTarget(name: "WatchdogTests", dependencies: ["Base", "Watchdog", "CGPIOD", "CFakeGPIOD"]),
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        .testTarget(name: "AllocationTests", dependencies: ["CAllocCounter", "GemmaEdge", "Grammar", "Sampling", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Base", "TestSupport", "GGUF"]),
        .testTarget(name: "GoldenTests", dependencies: ["GemmaEdge", "Gemma3", "Tokenizer", "GGUF", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5],
    cLanguageStandard: .c11,
    cxxLanguageStandard: .cxx17
)
