// The runtime's two phases on the real Gemma 3 270M: one decoded token (the step a chat repeats
// per word it prints) and one 64-token prefill batch. The model comes from GEMMA_EDGE_MODEL or
// from the cache that scripts/fetch-model.sh fills; without it the suite says so and exits 1.
// A decoded token must allocate nothing (Thresholds/ holds that at 0).
import Benchmark
import GemmaEdge

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func modelPath() -> String {
    if let p = getenv("GEMMA_EDGE_MODEL") { return String(cString: p) }
    let cache = getenv("GEMMA_EDGE_CACHE").map { String(cString: $0) }
        ?? (getenv("HOME").map { String(cString: $0) } ?? ".") + "/.cache/gemma-edge"
    return cache + "/models/gemma-3-270m-q4_k_m.gguf"
}

/// A loaded engine and a session holding a short prompt; `step` decodes greedily.
final class DecodeState: @unchecked Sendable {
    let engine: Engine
    let session: Session
    let prompt: [Int32]
    let batch: [Int32]

    init(threads: Int) throws {
        let path = modelPath()
        guard access(path, R_OK) == 0 else {
            fputs("DecodeBenchmarks: no model at \(path) (run scripts/fetch-model.sh or set GEMMA_EDGE_MODEL)\n", stderr)
            exit(1)
        }
        var options = EngineOptions()
        options.threads = threads
        options.context = 2048
        engine = try Engine(modelPath: path, options: options)
        session = engine.makeSession()
        prompt = try engine.tokenizer.encode("The three most useful things to know about a Raspberry Pi are", addBOS: true)
        batch = (0..<64).map { Int32(1000 + $0 * 37) }
        try session.append(prompt)
    }

    /// Greedy next token from the session's logits, without allocating.
    func argmax() -> Int32 {
        var best = 0
        let logits = session.logits
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// One decode step; starts over from the prompt when the context is full.
    func step() throws {
        if session.remaining < 1 {
            session.reset()
            try session.append(prompt)
        }
        try session.append(token: argmax())
    }
}

let benchmarks: @Sendable () -> Void = {
    let threads = max(1, getenv("BENCH_THREADS").flatMap { Int(String(cString: $0)) } ?? 1)
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput],
        warmupIterations: 3,
        maxDuration: .seconds(3),
        maxIterations: 400
    )
    Benchmark("decode one token [\(threads)t]") { benchmark, state in
        for _ in benchmark.scaledIterations { try! state.step() }
    } setup: {
        try DecodeState(threads: threads)
    }
    // Allocations are counted process-wide, so this benchmark measures nothing else: the clock
    // and CPU metrics cost the harness 16 mallocs per iteration, and the resident-memory sampler
    // thread allocates while it reads /proc.
    // Thresholds/ files are found by name, which must not contain spaces or slashes.
    Benchmark("allocations-decode-one-token",
              configuration: .init(metrics: [.mallocCountTotal], warmupIterations: 3, maxIterations: 200)) { benchmark, state in
        for _ in benchmark.scaledIterations { try! state.step() }
    } setup: {
        try DecodeState(threads: threads)
    }
    Benchmark("prefill 64 tokens [\(threads)t]", configuration: .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .peakMemoryResident],
        warmupIterations: 1, maxDuration: .seconds(3), maxIterations: 100
    )) { benchmark, state in
        for _ in benchmark.scaledIterations {
            state.session.reset()
            try! state.session.append(state.batch)
        }
    } setup: {
        try DecodeState(threads: threads)
    }
}
