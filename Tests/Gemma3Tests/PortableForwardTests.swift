import Foundation
import Gemma3
import GGUF
import Kernels
import TestSupport
import XCTest

/// The forward pass on the `portable` kernel set (Swift SIMD int4 products) gives the scalar
/// reference set's logits bit for bit, for Q4_0 and Q4_K projections, prefill and decode.
final class PortableForwardTests: XCTestCase {
    func logits(_ path: String, _ tokens: [Int32], kernels: KernelSet) throws -> [Float] {
        let file = try GGUFFile(path: path)
        let model = try Gemma3Model(file: file, compute: try Compute(kernels: kernels, threads: 2))
        let state = model.makeRunState(maxBatch: 8, maxContext: 64)
        let cache = KVCache(config: model.config, context: 64)
        var out: [Float] = []
        var logits = [Float](repeating: 0, count: model.config.vocabularySize)
        var i = 0
        while i < tokens.count {
            let n = i == 0 ? 8 : 1   // a prefill batch, then decode steps
            try tokens.withUnsafeBufferPointer { try model.evaluate(UnsafeBufferPointer(rebasing: $0[i..<(i + n)]), cache: cache, state: state) }
            logits.withUnsafeMutableBufferPointer { model.lastLogits(state, into: $0.baseAddress!) }
            out += logits
            i += n
        }
        return out
    }

    func testPortableSetGivesTheScalarLogits() throws {
        for type in [TensorType.q4_0, .q4_K] {
            let m = ForwardTests.tiny(type, embeddingType: .q8_0)
            let path = try m.write()
            defer { try? FileManager.default.removeItem(atPath: path) }
            let tokens = ForwardTests.tokens(12, vocab: m.vocabularySize)
            let a = try logits(path, tokens, kernels: .portable), b = try logits(path, tokens, kernels: .scalar)
            XCTAssertEqual(a.count, b.count)
            XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(type)")
        }
    }
}
