import CKernels
import Foundation
import GGUF

/// A deliberately naive Gemma 3 forward pass in Double, written straight from shared/GEMMA3.md:
/// dequantised weights, full causal attention with an explicit sliding-window mask, no cache, no
/// batching, no SIMD. The runtime's forward pass must agree with it.
struct ReferenceForward {
    let file: GGUFFile
    let blocks, d, ffn, heads, kvHeads, hd, window, vocab: Int
    let eps: Double
    let baseGlobal, baseLocal: Double

    init(path: String) throws {
        let file = try GGUFFile(path: path)
        self.file = file
        func u(_ k: String) throws -> Int { Int(try file.uint32("gemma3." + k)) }
        blocks = try u("block_count"); d = try u("embedding_length"); ffn = try u("feed_forward_length")
        heads = try u("attention.head_count"); kvHeads = try u("attention.head_count_kv")
        hd = try u("attention.key_length"); window = try u("attention.sliding_window")
        vocab = try file.stringArray("tokenizer.ggml.tokens").count
        eps = Double(try file.float32("gemma3.attention.layer_norm_rms_epsilon"))
        baseGlobal = Double(try file.float32("gemma3.rope.freq_base"))
        baseLocal = Double((try file.optionalFloat32("gemma3.rope.freq_base_swa")) ?? 10000)
    }

    /// Row-major [rows][cols] weights of a tensor as Double.
    func tensor(_ name: String) -> [[Double]] {
        let t = file.tensor(named: name)!
        let raw = file.data(of: t)
        var out: [[Double]] = []
        var row = [Float](repeating: 0, count: t.rowLength)
        for r in 0..<t.rows {
            row.withUnsafeMutableBufferPointer {
                ck_dequantize_row(ck_type(rawValue: t.type.rawValue), raw.baseAddress! + r * t.rowBytes, $0.baseAddress, Int64(t.rowLength))
            }
            out.append(row.map(Double.init))
        }
        return out
    }

    func vector(_ name: String) -> [Double] { tensor(name)[0] }

    func matvec(_ w: [[Double]], _ x: [Double]) -> [Double] {
        w.map { row in zip(row, x).reduce(0) { $0 + $1.0 * $1.1 } }
    }

    func norm(_ x: [Double], _ w: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let s = 1 / (ms + eps).squareRoot()
        return zip(x, w).map { $0 * s * $1 }
    }

    func rope(_ v: [Double], pos: Int, base: Double) -> [Double] {
        var o = v
        let half = hd / 2
        for i in 0..<half {
            let theta = Double(pos) * pow(base, -2 * Double(i) / Double(hd))
            o[i] = v[i] * cos(theta) - v[i + half] * sin(theta)
            o[i + half] = v[i] * sin(theta) + v[i + half] * cos(theta)
        }
        return o
    }

    /// Logits for every position of `tokens`.
    func logits(_ tokens: [Int32]) -> [[Double]] {
        let emb = tensor("token_embd.weight")
        var x = tokens.map { emb[Int($0)].map { $0 * Double(d).squareRoot() } }
        let n = tokens.count
        for l in 0..<blocks {
            let p = "blk.\(l)."
            let global = l % 6 == 5
            let wq = tensor(p + "attn_q.weight"), wk = tensor(p + "attn_k.weight"), wv = tensor(p + "attn_v.weight")
            let wo = tensor(p + "attn_output.weight")
            let qn = vector(p + "attn_q_norm.weight"), kn = vector(p + "attn_k_norm.weight")
            var qs: [[Double]] = [], ks: [[Double]] = [], vs: [[Double]] = []
            let inNorm = vector(p + "attn_norm.weight")
            for t in 0..<n {
                let h = norm(x[t], inNorm)
                let q = matvec(wq, h), k = matvec(wk, h), v = matvec(wv, h)
                let base = global ? baseGlobal : baseLocal
                qs.append((0..<heads).flatMap { rope(norm(Array(q[($0 * hd)..<(($0 + 1) * hd)]), qn), pos: t, base: base) })
                ks.append((0..<kvHeads).flatMap { rope(norm(Array(k[($0 * hd)..<(($0 + 1) * hd)]), kn), pos: t, base: base) })
                vs.append(v)
            }
            let postAttn = vector(p + "post_attention_norm.weight")
            let ffnNorm = vector(p + "ffn_norm.weight"), postFFN = vector(p + "post_ffw_norm.weight")
            let wg = tensor(p + "ffn_gate.weight"), wu = tensor(p + "ffn_up.weight"), wd = tensor(p + "ffn_down.weight")
            for t in 0..<n {
                var att = [Double](repeating: 0, count: heads * hd)
                for h in 0..<heads {
                    let g = h / (heads / kvHeads)
                    let visible = (0...t).filter { global || t - $0 < window }
                    let scores = visible.map { j -> Double in
                        (0..<hd).reduce(0) { $0 + qs[t][h * hd + $1] * ks[j][g * hd + $1] } / Double(hd).squareRoot()
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let s = e.reduce(0, +)
                    for (idx, j) in visible.enumerated() {
                        for i in 0..<hd { att[h * hd + i] += e[idx] / s * vs[j][g * hd + i] }
                    }
                }
                let o = norm(matvec(wo, att), postAttn)
                x[t] = zip(x[t], o).map(+)
                let h = norm(x[t], ffnNorm)
                let gate = matvec(wg, h), up = matvec(wu, h)
                let c = (2 / Double.pi).squareRoot()
                let m = zip(gate, up).map { g, u in 0.5 * g * (1 + tanh(c * (g + 0.044715 * g * g * g))) * u }
                let f = norm(matvec(wd, m), postFFN)
                x[t] = zip(x[t], f).map(+)
            }
        }
        let out = file.tensor(named: "output.weight") != nil ? tensor("output.weight") : emb
        return x.map { matvec(out, norm($0, vector("output_norm.weight"))) }
    }
}
