import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The int4 dot products written with Swift SIMD types instead of a C shim: Q4_0 against Q8_0 and
/// Q4_K against Q8_K activation rows, with the signatures of `ck_vec_dot_fn`. Nothing here names an
/// instruction set: the compiler vectorises the 16-lane integer arithmetic for whatever target it
/// builds (SSE2 on any x86-64, NEON on AArch64, RVV, WebAssembly SIMD), so a build for a CPU that
/// CKernels has no SIMD file for still gets vector int4 products. `KernelSet.portable` is the scalar
/// set with these two entries swapped in.
///
/// Integer sums are exact (the same as the C kernels'); the float order is the scalar reference's,
/// so results equal `ck_scalar_vec_dot_q4_0` / `_q4_K` bit for bit.
public enum PortableInt4 {
    public typealias Dot = @convention(c) (Int64, UnsafeRawPointer?, UnsafeRawPointer?) -> Float

    /// Q4_0 (18-byte blocks: f16 d, 16 bytes of nibbles) against Q8_0 (34-byte blocks: f16 d, 32 int8).
    public static let q4_0: Dot = { n, w, a in dotQ4_0(Int(n), w!, a!) }
    /// Q4_K (144-byte super-blocks of 256) against Q8_K (292-byte blocks: f32 d, 256 int8, 16 int16 sums).
    public static let q4_K: Dot = { n, w, a in dotQ4_K(Int(n), w!, a!) }

    /// f16 bits to f32, exact (ck_h2f's definition), in integer operations: Float16 conversions
    /// are library calls on targets without a hardware instruction.
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        let h = UInt32(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        let sign = (h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF
        if exp == 0 { return Float(bitPattern: sign | (Float(man) * 0x1p-24).bitPattern) }
        if exp == 31 {
            let quiet: UInt32 = man != 0 ? 0x40_0000 : 0
            let bits: UInt32 = sign | 0x7F80_0000 | (man << 13)
            return Float(bitPattern: bits | quiet)
        }
        let biased: UInt32 = (exp + 112) << 23
        return Float(bitPattern: sign | biased | (man << 13))
    }

    // 16 bytes as eight 16-bit lanes: lane k holds bytes 2k (low half) and 2k + 1 (high half).
    // Everything below stays in such lanes (shifts, masks, wrapping products), which every SIMD
    // instruction set has, instead of converting lane widths.
    typealias Lanes = SIMD8<Int16>

    @inline(__always)
    static func lanes(_ p: UnsafeRawPointer, _ offset: Int) -> Lanes { p.loadUnaligned(fromByteOffset: offset, as: Lanes.self) }

    /// The even and the odd bytes of 16 int8 values, sign-extended.
    @inline(__always)
    static func bytes(_ v: Lanes) -> (even: Lanes, odd: Lanes) { ((v &<< 8) &>> 8, v &>> 8) }

    /// The 4-bit field of every lane that starts at bit `shift`. (The arithmetic below is split
    /// into typed steps: Swift 6.2 gives up type-checking the one-expression forms.)
    @inline(__always)
    static func nibble(_ q: Lanes, _ shift: Int16) -> Lanes { (q &>> shift) & 0xF }

    /// x * y + z * w in wrapping 16-bit lanes.
    @inline(__always)
    static func dot2(_ x: Lanes, _ y: Lanes, _ z: Lanes, _ w: Lanes) -> Lanes {
        let xy: Lanes = x &* y
        let zw: Lanes = z &* w
        return xy &+ zw
    }

    static func dotQ4_0(_ n: Int, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for i in 0..<(n / 32) {
            let x = w + i * 18, y = a + i * 34
            // Byte j holds element j (low nibble) and element j + 16 (high nibble), each q - 8.
            let q = lanes(x, 2)
            let (a0, a1) = bytes(lanes(y, 2)), (a2, a3) = bytes(lanes(y, 18))
            let eight = Lanes(repeating: 8)
            let low: Lanes = dot2(nibble(q, 0) &- eight, a0, nibble(q, 8) &- eight, a1)
            let high: Lanes = dot2(nibble(q, 4) &- eight, a2, nibble(q, 12) &- eight, a3)
            let p: Lanes = low &+ high
            // |(q - 8) * a| <= 8 * 127: four per lane, eight lanes, at most 32512. No wrap.
            sum += Float(p.wrappedSum()) * (half(x, 0) * half(y, 0))
        }
        return sum
    }

    static func dotQ4_K(_ n: Int, _ w: UnsafeRawPointer, _ a: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for i in 0..<(n / 256) {
            let x = w + i * 144, y = a + i * 292
            // The 6-bit scales and mins of the 8 sub-blocks (ggml's get_scale_min_k4).
            let s = x + 4
            var scale = SIMD8<Int32>(), minimum = SIMD8<Int32>()
            for j in 0..<4 {
                let q0 = Int32(s.load(fromByteOffset: j, as: UInt8.self))
                let q4 = Int32(s.load(fromByteOffset: j + 4, as: UInt8.self))
                let q8 = Int32(s.load(fromByteOffset: j + 8, as: UInt8.self))
                scale[j] = q0 & 63
                minimum[j] = q4 & 63
                scale[j + 4] = (q8 & 0x0F) | ((q0 >> 6) << 4)
                minimum[j + 4] = (q8 >> 4) | ((q4 >> 6) << 4)
            }
            var summ: Int32 = 0
            for j in 0..<8 {
                let b = Int32(y.loadUnaligned(fromByteOffset: 260 + 4 * j, as: Int16.self))
                    + Int32(y.loadUnaligned(fromByteOffset: 262 + 4 * j, as: Int16.self))
                summ += minimum[j] * b
            }
            var sumi: Int32 = 0
            for c in 0..<4 {
                // 64 elements: byte l of the 32 holds element l (low nibble, sub-block 2c) and
                // element 32 + l (high nibble, sub-block 2c + 1).
                var s0: Int32 = 0, s1: Int32 = 0
                for h in 0..<2 {
                    let q = lanes(x, 16 + 32 * c + 16 * h)
                    let (a0, a1) = bytes(lanes(y, 4 + 64 * c + 16 * h))
                    let (a2, a3) = bytes(lanes(y, 36 + 64 * c + 16 * h))
                    // q * a <= 15 * 127: two per lane, eight lanes, at most 30480. No wrap.
                    let p0: Lanes = dot2(nibble(q, 0), a0, nibble(q, 8), a1)
                    let p1: Lanes = dot2(nibble(q, 4), a2, nibble(q, 12), a3)
                    s0 += Int32(p0.wrappedSum())
                    s1 += Int32(p1.wrappedSum())
                }
                sumi += scale[2 * c] * s0 + scale[2 * c + 1] * s1
            }
            let yd = y.loadUnaligned(as: Float.self)
            let d: Float = half(x, 0) * yd, dmin: Float = half(x, 2) * yd
            sum += d * Float(sumi) - dmin * Float(summ)
        }
        return sum
    }
}

extension KernelSet {
    /// The scalar reference set with the int4 dot products (Q4_0, Q4_K) of `PortableInt4`: the
    /// portable path for CPUs without a C SIMD set (`--kernels portable`). Made once per process.
    public static let portable: KernelSet = {
        KernelSet.completed(name: "portable") { set in
            ck_set_put_vec_dot(set, CK_Q4_0, PortableInt4.q4_0)
            ck_set_put_vec_dot(set, CK_Q4_K, PortableInt4.q4_K)
        }
    }()
}
