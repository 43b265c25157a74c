import CKernels
import GGUF

/// Runs matrix products on the chosen kernel set across a pool of persistent threads.
/// Everything a call needs is preallocated: `matmul` allocates nothing.
public final class Compute: @unchecked Sendable {
    public let kernels: KernelSet
    /// The float matrix products of `kernels`.
    public let floatGemm: FloatGemm
    /// The row kernels of `kernels` (softmax, GELU, LayerNorm, adds).
    public let rows: RowKernels
    public let threads: Int
    private let pool: OpaquePointer
    private let job: UnsafeMutablePointer<GemmJob>
    private let gluJob: UnsafeMutablePointer<GatedJob>

    /// - Parameters:
    ///   - threads: total threads including the caller's.
    ///   - cpus: optional CPU ids to pin worker i to (index 0 is the caller's, not moved).
    public init(kernels: KernelSet = .best(), threads: Int, cpus: [Int32]? = nil) throws {
        precondition(threads >= 1)
        self.kernels = kernels
        floatGemm = FloatGemm(kernels)
        rows = RowKernels(kernels)
        self.threads = threads
        let p: OpaquePointer?
        if let cpus {
            precondition(cpus.count >= threads)
            p = cpus.withUnsafeBufferPointer { ck_pool_create(Int32(threads), $0.baseAddress) }
        } else {
            p = ck_pool_create(Int32(threads), nil)
        }
        guard let p else { throw ComputeError.threadStart(threads) }
        pool = p
        job = .allocate(capacity: 1)
        job.initialize(to: GemmJob())
        gluJob = .allocate(capacity: 1)
        gluJob.initialize(to: GatedJob())
    }

    deinit {
        ck_pool_destroy(pool)
        job.deallocate()
        gluJob.deallocate()
    }

    /// Runs `task(i)` for i in 0..<count on the pool. The context pointer is the caller's; the
    /// task must be a non-capturing function.
    public func parallel(_ count: Int, context: UnsafeMutableRawPointer, _ task: ck_task_fn) {
        ck_pool_run(pool, task, context, Int32(count))
    }

    /// out[t * outStride + r] = W[r] · input row (firstToken + t), for t < tokens and every row r of W.
    /// `input` must hold the tokens already quantised for W's activation type.
    /// `firstToken` skips that many input rows.
    public func matmul(_ w: Matrix, _ input: QuantizedRows, firstToken: Int = 0, tokens: Int,
                       out: UnsafeMutablePointer<Float>, outStride: Int) {
        let a = input.rows(for: w.activationType)
        precondition(firstToken >= 0 && firstToken + tokens <= input.validTokens && w.columns == input.width)
        var perTask = Self.rowsPerTask(rows: w.rows, threads: threads, tokens: tokens)
        if let rp = w.repacked { perTask = (perTask + rp.groupRows - 1) / rp.groupRows * rp.groupRows }
        job.pointee = GemmJob(kernels: kernels.table, type: w.ckType, n: Int64(w.columns), w: w.base,
                              rowBytes: w.rowBytes, rows: w.rows, a: a.base + firstToken * a.stride, aStride: a.stride,
                              tokens: Int64(tokens), out: out, outStride: Int64(outStride),
                              rowsPerTask: perTask, repacked: w.repacked)
        matmulRegion()
    }

    /// Runs `job` over the pool, one task per `rowsPerTask` rows.
    private func matmulRegion() {
        let tasks = (job.pointee.rows + job.pointee.rowsPerTask - 1) / job.pointee.rowsPerTask
        ck_pool_run(pool, { ctx, i, _ in
            let j = ctx!.assumingMemoryBound(to: GemmJob.self).pointee
            let r0 = Int(i) * j.rowsPerTask
            let r1 = min(j.rows, r0 + j.rowsPerTask)
            if let gemm = j.floatGemm {   // batchMatmul: f32 activation rows
                gemm(j.n, j.a.assumingMemoryBound(to: Float.self), Int64(j.aStride / 4), j.tokens, j.w + r0 * j.rowBytes,
                     j.rowBytes, Int64(r1 - r0), j.out + r0, j.outStride, 0)
            } else if let rp = j.repacked {   // whole groups of rows: rowsPerTask is a multiple of groupRows
                rp.gemm(j.n, rp.base + r0 / rp.groupRows * rp.groupBytes, Int64(r1 - r0), j.a, j.aStride, j.tokens,
                        j.out + r0, j.outStride)
            } else if j.tokens == 1 {
                ck_gemv(j.kernels, j.type, j.n, j.w + r0 * j.rowBytes, j.rowBytes, Int64(r1 - r0), j.a, j.out + r0)
            } else {
                ck_gemm(j.kernels, j.type, j.n, j.w + r0 * j.rowBytes, j.rowBytes, Int64(r1 - r0), j.a, j.aStride,
                        j.tokens, j.out + r0, j.outStride)
            }
        }, job, Int32(tasks))
    }

    /// `matmul` for batch-only work (the vision encoder): F16 and F32 weights go through the
    /// set's float gemm (`FloatGemm`: each task lays its weight rows out once as f32 panels and
    /// runs register tiles of several tokens x 16 rows over them, so a weight is converted once
    /// per call, not once per token). Its float order is not `vec_dot`'s, so a text model's
    /// prefill, which must give what its decode steps give, keeps `matmul`. Other weight types
    /// (Q8_0 projectors: the int8 gemm microkernels), and single tokens, are `matmul` exactly.
    public func batchMatmul(_ w: Matrix, _ input: QuantizedRows, firstToken: Int = 0, tokens: Int,
                            out: UnsafeMutablePointer<Float>, outStride: Int) {
        guard tokens > 1, w.repacked == nil, let gemm = floatGemm.rows(w.ckType) else {
            return matmul(w, input, firstToken: firstToken, tokens: tokens, out: out, outStride: outStride)
        }
        let a = input.rows(for: CK_F32)
        precondition(firstToken >= 0 && firstToken + tokens <= input.validTokens && w.columns == input.width)
        job.pointee = GemmJob(kernels: kernels.table, type: w.ckType, n: Int64(w.columns), w: w.base,
                              rowBytes: w.rowBytes, rows: w.rows, a: a.base + firstToken * a.stride, aStride: a.stride,
                              tokens: Int64(tokens), out: out, outStride: Int64(outStride),
                              rowsPerTask: (Self.rowsPerTask(rows: w.rows, threads: threads, tokens: tokens) + 63) / 64 * 64,
                              repacked: nil, floatGemm: gemm)
        matmulRegion()
    }

    /// g = gelu_tanh(g) * u over `count` floats (`ElementWise.geluTanhMul`), split across the pool
    /// when there is enough work to pay for the hand-off (a prefill batch; a decoded token's
    /// feed-forward width stays on the calling thread).
    public func geluTanhMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, count: Int) {
        let tasks = threads == 1 ? 1 : min(threads * 2, count / Self.minGatedChunk)
        guard tasks > 1 else { return ElementWise.geluTanhMul(g, u, count) }
        // Chunks are multiples of 8 floats so every lane goes through the same SIMD path.
        gluJob.pointee = GatedJob(g: g, u: u, count: count, chunk: ((count + tasks - 1) / tasks + 7) / 8 * 8)
        ck_pool_run(pool, { ctx, i, _ in
            let j = ctx!.assumingMemoryBound(to: GatedJob.self).pointee
            let start = Int(i) * j.chunk
            guard start < j.count else { return }
            ElementWise.geluTanhMul(j.g + start, j.u + start, min(j.chunk, j.count - start))
        }, gluJob, Int32(tasks))
    }

    /// Fewest floats worth a task of their own (a few microseconds of work).
    static let minGatedChunk = 8192

    /// Splits rows into chunks: a few per thread so uneven cores balance, multiples of 16 rows.
    static func rowsPerTask(rows: Int, threads: Int, tokens: Int) -> Int {
        let chunks = threads == 1 ? 1 : threads * 4
        let per = (rows + chunks - 1) / chunks
        return max(16, (per + 15) / 16 * 16)
    }
}

public enum ComputeError: Error, CustomStringConvertible {
    case threadStart(Int)
    public var description: String {
        switch self {
        case .threadStart(let n): return "could not start \(n) compute threads"
        }
    }
}

struct GatedJob {
    var g = UnsafeMutablePointer<Float>(bitPattern: 4)!
    var u = UnsafePointer<Float>(bitPattern: 4)!
    var count = 0
    var chunk = 1
}

struct GemmJob {
    var kernels: UnsafePointer<ck_kernel_set>? = nil
    var type: ck_type = CK_F32
    var n: Int64 = 0
    var w: UnsafeRawPointer = UnsafeRawPointer(bitPattern: 1)!
    var rowBytes: Int = 0
    var rows: Int = 0
    var a: UnsafeRawPointer = UnsafeRawPointer(bitPattern: 1)!
    var aStride: Int = 0
    var tokens: Int64 = 0
    var out: UnsafeMutablePointer<Float> = UnsafeMutablePointer(bitPattern: 4)!
    var outStride: Int64 = 0
    var rowsPerTask: Int = 1
    var repacked: RepackedView? = nil
    /// Set by `batchMatmul`: the float gemm that replaces vec_dot for F16 / F32 weights.
    var floatGemm: FloatGemm.Rows? = nil
}
