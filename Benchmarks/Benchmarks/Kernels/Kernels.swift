// Matrix products at the shapes of Gemma 3 270M, on the kernel set chosen at load (as the runtime
// chooses it). Weights are random values quantised with the reference quantiser, so every block
// is valid; the numbers measure the kernels, not the model. A decode step is one token through
// gemv; a prefill batch is 64 tokens through gemm. Allocation counts must stay at zero
// (Thresholds/).
import Benchmark
import CKernels
import GGUF
import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One weight matrix and its quantised input rows, built once in setup.
final class MatrixCase: @unchecked Sendable {
    let compute: Compute
    let matrix: Matrix
    let input: QuantizedRows
    let output: UnsafeMutablePointer<Float>
    private let storage: UnsafeMutableRawPointer

    init(type: ck_type, rows: Int, columns: Int, tokens: Int, kernels: KernelSet, threads: Int) throws {
        compute = try Compute(kernels: kernels, threads: threads)
        let rowBytes = Int(ck_row_bytes(type, Int64(columns)))
        storage = .allocate(byteCount: rows * rowBytes, alignment: 64)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(rows &+ columns)
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        let row = UnsafeMutablePointer<Float>.allocate(capacity: columns)
        defer { row.deallocate() }
        for r in 0..<rows {
            for c in 0..<columns { row[c] = next() }
            precondition(ck_quantize_row_ref(type, row, storage + r * rowBytes, Int64(columns)) == 0)
        }
        matrix = Matrix(type: TensorType(rawValue: type.rawValue)!, rows: rows, columns: columns, base: storage)
        input = QuantizedRows(capacity: tokens, width: columns, formats: [matrix.activationType.rawValue], kernels: kernels)
        for i in 0..<(tokens * columns) { input.floats[i] = next() }
        input.invalidate(tokens: tokens)
        output = .allocate(capacity: tokens * rows)
    }

    deinit {
        storage.deallocate()
        output.deallocate()
    }
}

/// The matrices of one 270M block (Q4_K_M file: rows x columns) plus the Q4_0 requantisation's
/// ffn_up and the tied output projection.
let shapes: [(name: String, type: ck_type, rows: Int, columns: Int)] = [
    ("attn_q q5_0 1024x640", CK_Q5_0, 1024, 640),
    ("attn_v q8_0 256x640", CK_Q8_0, 256, 640),
    ("attn_output q4_K 640x1024", CK_Q4_K, 640, 1024),
    ("ffn_up q5_0 2048x640", CK_Q5_0, 2048, 640),
    ("ffn_down q6_K 640x2048", CK_Q6_K, 640, 2048),
    ("ffn_up q4_0 2048x640", CK_Q4_0, 2048, 640),
    ("output q8_0 262144x640", CK_Q8_0, 262_144, 640),
]

extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput],
        warmupIterations: 2,
        maxDuration: .seconds(2),
        maxIterations: 2000
    )
    let kernels = KernelSet.best()
    // BENCH_THREADS=2 swift package benchmark: the same products split across a pool.
    let threads = max(1, getenv("BENCH_THREADS").flatMap { Int(String(cString: $0)) } ?? 1)
    for shape in shapes {
        for tokens in [1, 64] where !(tokens == 64 && shape.rows > 100_000) {
            let phase = tokens == 1 ? "gemv" : "gemm_x64"
            Benchmark("\(phase) \(shape.name) [\(kernels.name), \(threads)t]") { benchmark, c in
                // The body is the product only: setup built the weights, the inputs and the pool.
                for _ in benchmark.scaledIterations {
                    c.compute.matmul(c.matrix, c.input, tokens: tokens, out: c.output, outStride: shape.rows)
                    blackHole(c.output.pointee)
                }
            } setup: {
                try MatrixCase(type: shape.type, rows: shape.rows, columns: shape.columns, tokens: tokens,
                               kernels: kernels, threads: threads)
            }
            // Alone, because the clock metrics allocate in the harness (see Decode.swift).
            // Thresholds/ files are found by name, which must not contain spaces or slashes.
            Benchmark("allocations-\(phase)-\(shape.name.replacingSpaces())",
                      configuration: .init(metrics: [.mallocCountTotal], warmupIterations: 2, maxIterations: 50)) { benchmark, c in
                for _ in benchmark.scaledIterations {
                    c.compute.matmul(c.matrix, c.input, tokens: tokens, out: c.output, outStride: shape.rows)
                }
            } setup: {
                try MatrixCase(type: shape.type, rows: shape.rows, columns: shape.columns, tokens: tokens,
                               kernels: kernels, threads: threads)
            }
        }
    }
}
