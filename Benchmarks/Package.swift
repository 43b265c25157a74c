// swift-tools-version:6.1
// GemmaEdge's package-benchmark suites, a package of their own so that the runtime's build does
// not pull in the benchmark tooling. Run from this folder:
//   swift package benchmark                         every suite, results in the terminal
//   swift package benchmark thresholds check        compare with the committed Thresholds/
//   swift package --allow-writing-to-package-directory benchmark thresholds update
// Suites:
//   KernelBenchmarks   matrix-vector and matrix-matrix products at the 270M's shapes, per type,
//                      on the kernel set chosen at load; no allocation per call
//   DecodeBenchmarks   one decoded token and one 64-token prefill batch on the real Gemma 3 270M
//                      (GEMMA_EDGE_MODEL, or the cache scripts/fetch-model.sh fills); no
//                      allocation per decoded token
import PackageDescription

let package = Package(
    name: "GemmaEdgeBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "GemmaEdge", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "GemmaEdgeKernels", package: "GemmaEdge"),
            ],
            path: "Benchmarks/Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DecodeBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "GemmaEdge", package: "GemmaEdge"),
            ],
            path: "Benchmarks/Decode",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
