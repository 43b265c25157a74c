import CKernels
import XCTest

// Tests of the C kernels through their C interface: every kernel set this CPU runs against the
// scalar reference, known-answer blocks built by hand from the GGUF layouts, quantiser round
// trips and f16/bf16 conversions. (Cross/run-arm-kernel-tests.sh runs the C driver that does the
// same comparisons for the AArch64 sets under qemu.)

// MARK: - helpers

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Float { Float(next() >> 40) / 16_777_216 }
    mutating func normal() -> Float { (unit() + unit() + unit() + unit() - 2) * 1.732_050_8 }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

private let weightTypes: [ck_type] = [
    CK_F32, CK_F16, CK_BF16, CK_Q4_0, CK_Q4_1, CK_Q5_0, CK_Q5_1, CK_Q8_0, CK_Q4_K, CK_Q5_K, CK_Q6_K,
]
private let allTypes: [ck_type] = weightTypes + [CK_Q8_1, CK_Q8_K]

func typeName(_ t: ck_type) -> String { String(cString: ck_type_name(t)) }
func blockElements(_ t: ck_type) -> Int { Int(ck_block_elements(t)) }
func rowBytes(_ t: ck_type, _ n: Int) -> Int { Int(ck_row_bytes(t, Int64(n))) }

func availableSets() -> [UnsafePointer<ck_kernel_set>] {
    var out = [UnsafePointer<ck_kernel_set>?](repeating: nil, count: 16)
    let n = Int(ck_kernels_available(&out, 16))
    return out.prefix(n).compactMap { $0 }
}

func setName(_ ks: UnsafePointer<ck_kernel_set>) -> String { String(cString: ks.pointee.name) }

// A set's entries, through the shim's accessors. (These helpers are internal: GemmKernelsTests.swift
// uses them too.)
func vecDot(_ ks: UnsafePointer<ck_kernel_set>, _ t: ck_type) -> ck_vec_dot_fn? { ck_set_vec_dot(ks, t) }

func quantizer(_ ks: UnsafePointer<ck_kernel_set>, _ t: ck_type) -> ck_quantize_fn? { ck_set_quantize(ks, t) }

/// Random floats, block by block: magnitudes over several decades, zero blocks, blocks whose
/// scale is exactly 1 with .5 ties, a negative extreme first, and +-max ties.
func randomFloats(_ n: Int, block: Int, _ rng: inout SplitMix64) -> [Float] {
    var x = [Float](repeating: 0, count: n)
    var b = 0
    while b < n {
        let kind = rng.below(16)
        let scale = Float(pow(10.0, Double(rng.unit()) * 4 - 3))
        for i in b..<min(b + block, n) {
            switch kind {
            case 0: x[i] = 0
            case 1: x[i] = i == b ? (rng.next() & 1 == 0 ? 127 : -127) : Float(rng.below(254) - 127) + 0.5
            case 2: x[i] = i == b ? -scale : scale * rng.normal() * 0.2
            case 3: x[i] = i % 2 == 0 ? -scale : scale
            default: x[i] = scale * rng.normal()
            }
        }
        b += block
    }
    return x
}

func putHalf(_ bytes: inout [UInt8], _ at: Int, _ v: Float) {
    let h = ck_f32_to_f16(v)
    bytes[at] = UInt8(h & 0xFF)
    bytes[at + 1] = UInt8(h >> 8)
}

func quantize(_ ks: UnsafePointer<ck_kernel_set>, _ t: ck_type, _ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: max(rowBytes(t, x.count), 1))
    let q = quantizer(ks, t)!
    x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { q(xp.baseAddress, $0.baseAddress, Int64(x.count)) } }
    return out
}

/// A weight row: mode 0 quantised from random floats, mode 1 random bytes with sane scales (so
/// every bit pattern of the quants, -128 included, is exercised).
func randomWeights(_ t: ck_type, _ n: Int, mode: Int, _ rng: inout SplitMix64) -> [UInt8] {
    let rb = rowBytes(t, n)
    if mode == 0 || t == CK_F32 {
        let x = randomFloats(n, block: max(blockElements(t), 32), &rng)
        return quantize(ck_kernels_scalar(), t, x)
    }
    var w = (0..<max(rb, 1)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    let bb = Int(ck_block_bytes(t))
    for b in 0..<(rb / bb) {
        let p = b * bb
        let s1 = (rng.unit() * 2 - 1) * 0.05, s2 = rng.unit() * 0.05
        switch t {
        case CK_F16: if (w[p + 1] >> 2) & 31 == 31 { w[p + 1] &= 0xBF }                       // finite halves
        case CK_BF16: w[p + 1] = (w[p + 1] & 0x80) | 0x3C | (w[p + 1] & 0x01)                  // moderate exponents
        case CK_Q4_0, CK_Q5_0, CK_Q8_0: putHalf(&w, p, s1)
        case CK_Q4_1, CK_Q5_1: putHalf(&w, p, s1); putHalf(&w, p + 2, s2)
        case CK_Q4_K, CK_Q5_K: putHalf(&w, p, s2 * 0.1); putHalf(&w, p + 2, s2 * 0.05)
        case CK_Q6_K: putHalf(&w, p + 208, s1 * 0.01)
        default: break
        }
    }
    return w
}

func dequantize(_ t: ck_type, _ bytes: [UInt8], _ n: Int) -> [Float] {
    var out = [Float](repeating: 0, count: n)
    bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { ck_dequantize_row(t, b.baseAddress, $0.baseAddress, Int64(n)) } }
    return out
}

/// Copies `bytes` to `offset` bytes past the start of a fresh buffer and hands that address over.
func misaligned<R>(_ bytes: [UInt8], _ offset: Int, _ body: (UnsafeRawPointer) -> R) -> R {
    let buf = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + offset + 16, alignment: 64)
    defer { buf.deallocate() }
    bytes.withUnsafeBytes { (buf + offset).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    return body(UnsafeRawPointer(buf + offset))
}

private func bytesOfHalf(_ h: UInt16) -> [UInt8] { [UInt8(h & 0xFF), UInt8(h >> 8)] }

// MARK: - tests

final class CKernelsTests: XCTestCase {
    func testSelectionAndAvailability() {
        let sets = availableSets()
        XCTAssertGreaterThanOrEqual(sets.count, 1)
        XCTAssertEqual(sets.first, ck_kernels_scalar())
        XCTAssertEqual(setName(ck_kernels_select(0)), "scalar")
        let best = ck_kernels_select(~0)!
        XCTAssertTrue(sets.contains(best), "selected set must be one of the available sets")
        let f = ck_cpu_features()
        #if arch(x86_64)
        let vnni = UInt32(CK_CPU_AVX2 | CK_CPU_AVX512 | CK_CPU_AVX512VNNI)
        XCTAssertEqual(setName(best), f & vnni == vnni ? "avx512vnni" : (f & UInt32(CK_CPU_AVX2) != 0 ? "avx2" : "scalar"))
        XCTAssertEqual(setName(ck_kernels_select(~UInt32(CK_CPU_AVX512VNNI))), f & UInt32(CK_CPU_AVX2) != 0 ? "avx2" : "scalar")
        XCTAssertEqual(f & UInt32(CK_CPU_NEON | CK_CPU_DOTPROD | CK_CPU_I8MM), 0)
        #elseif arch(arm64)
        XCTAssertNotEqual(f & UInt32(CK_CPU_NEON), 0)
        XCTAssertEqual(setName(best), f & UInt32(CK_CPU_DOTPROD) != 0 ? "neon-dotprod" : "neon")
        XCTAssertEqual(setName(ck_kernels_select(~UInt32(CK_CPU_DOTPROD))), "neon")
        #endif
        for ks in sets {
            for t in allTypes {
                XCTAssertNotNil(vecDot(ks, t), "\(setName(ks)): vec_dot[\(typeName(t))]")
                XCTAssertNotNil(quantizer(ks, t), "\(setName(ks)): quantize[\(typeName(t))]")
            }
            XCTAssertNotNil(ks.pointee.dot_f32)
            XCTAssertNotNil(ks.pointee.axpy_f32)
        }
    }

    func testGeometry() {
        let expected: [(ck_type, Int, Int, ck_type)] = [
            (CK_F32, 1, 4, CK_F32), (CK_F16, 1, 2, CK_F32), (CK_BF16, 1, 2, CK_F32), (CK_Q4_0, 32, 18, CK_Q8_0),
            (CK_Q4_1, 32, 20, CK_Q8_1), (CK_Q5_0, 32, 22, CK_Q8_0), (CK_Q5_1, 32, 24, CK_Q8_1), (CK_Q8_0, 32, 34, CK_Q8_0),
            (CK_Q8_1, 32, 36, CK_Q8_1), (CK_Q4_K, 256, 144, CK_Q8_K), (CK_Q5_K, 256, 176, CK_Q8_K),
            (CK_Q6_K, 256, 210, CK_Q8_K), (CK_Q8_K, 256, 292, CK_Q8_K),
        ]
        for (t, e, b, a) in expected {
            XCTAssertEqual(blockElements(t), e, typeName(t))
            XCTAssertEqual(Int(ck_block_bytes(t)), b, typeName(t))
            XCTAssertEqual(ck_activation_type(t), a, typeName(t))
        }
        XCTAssertEqual(ck_block_elements(ck_type(rawValue: 4)), 0)
        XCTAssertEqual(rowBytes(CK_Q8_0, 640), 680)
        XCTAssertEqual(rowBytes(CK_Q4_K, 100), -1)
        var x = [Float](repeating: 0, count: 64), y = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(ck_quantize_row_ref(CK_Q4_0, &x, &y, 33), -1)
        XCTAssertEqual(ck_quantize_row_ref(ck_type(rawValue: 4), &x, &y, 32), -1)
    }

    // MARK: f16 / bf16

    func testF16Conversions() {
        var bad = 0
        for h in 0...0xFFFF {
            let h16 = UInt16(h)
            let f = ck_f16_to_f32(h16)
            let e = (h >> 10) & 31, m = h & 1023
            let sign: Double = h & 0x8000 != 0 ? -1 : 1
            if e == 31 {
                if m == 0 {
                    if !(f.isInfinite && (f < 0) == (sign < 0)) { bad += 1 }
                } else if !f.isNaN || ck_f32_to_f16(f) != h16 | 0x200 {
                    bad += 1   // NaN comes back quiet with its payload
                }
                continue
            }
            let v = e == 0 ? sign * Double(m) * 0x1p-24 : sign * Double(1024 + m) * pow(2.0, Double(e - 25))
            if Double(f) != v || ck_f32_to_f16(f) != h16 { bad += 1 }
        }
        XCTAssertEqual(bad, 0, "f16 -> f32 -> f16 over all 65536 halves")

        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (65504, 0x7BFF), (65519, 0x7BFF), (65520, 0x7C00),
            (1e10, 0x7C00), (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (0x1p-24, 0x0001),                              // smallest subnormal
            (0x1p-25, 0x0000),                              // tie between 0 and 2^-24: to even
            (Float(bitPattern: 0x3300_0001), 0x0001),       // just above the tie
            (0x1.8p-24, 0x0002),                            // tie between 1 and 2 ulps: to even
            (0x1p-14, 0x0400), (1023 * 0x1p-24, 0x03FF),    // smallest normal, largest subnormal
            (1 + 0x1p-11, 0x3C00), (1 + 3 * 0x1p-11, 0x3C02),  // ties to even
            (1e-20, 0x0000), (-1e-20, 0x8000), (Float(1.0 / 3.0), 0x3555),
        ]
        for (f, h) in cases {
            XCTAssertEqual(ck_f32_to_f16(f), h, "f32_to_f16(\(f))")
        }
        XCTAssertEqual(ck_f32_to_f16(.nan) & 0x7E00, 0x7E00)
        XCTAssertEqual(ck_f32_to_f16(Float(bitPattern: 0x7F80_0001)), 0x7E00, "signalling NaN comes out quiet")
        XCTAssertEqual(ck_f32_to_f16(Float(bitPattern: 0xFFC0_0000)), 0xFE00, "NaN keeps its sign")
        XCTAssertEqual(ck_f16_to_f32(0x0001), 0x1p-24)
        XCTAssertEqual(ck_f16_to_f32(0x8400), -0x1p-14)
        XCTAssertEqual(ck_f16_to_f32(0xFC00), -.infinity)
        XCTAssertTrue(ck_f16_to_f32(0x7C01).isNaN)
    }

    func testBF16Conversions() {
        XCTAssertEqual(ck_f32_to_bf16(1), 0x3F80)
        XCTAssertEqual(ck_f32_to_bf16(-5), 0xC0A0)
        XCTAssertEqual(ck_f32_to_bf16(Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie to even (down)")
        XCTAssertEqual(ck_f32_to_bf16(Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie to even (up)")
        XCTAssertEqual(ck_f32_to_bf16(Float(bitPattern: 0x3F80_8001)), 0x3F81, "above the tie")
        XCTAssertEqual(ck_f32_to_bf16(.infinity), 0x7F80)
        XCTAssertEqual(ck_f32_to_bf16(-.infinity), 0xFF80)
        XCTAssertEqual(ck_f32_to_bf16(.greatestFiniteMagnitude), 0x7F80, "rounds up to inf")
        XCTAssertEqual(ck_f32_to_bf16(Float(bitPattern: 0x7F80_0001)), 0x7FC0, "NaN forced quiet")
        XCTAssertEqual(ck_f32_to_bf16(Float(bitPattern: 0x0001_0000)), 0x0001, "subnormal kept")
        XCTAssertEqual(ck_bf16_to_f32(0x8001).bitPattern, 0x8001_0000)
        XCTAssertEqual(ck_bf16_to_f32(0x4049), 3.140625)
        XCTAssertTrue(ck_bf16_to_f32(0x7FC1).isNaN)
        // every bf16 converts exactly and back
        var bad = 0
        for h in 0...0xFFFF {
            let f = ck_bf16_to_f32(UInt16(h))
            if f.bitPattern != UInt32(h) << 16 { bad += 1 }
            if !f.isNaN && ck_f32_to_bf16(f) != UInt16(h) { bad += 1 }
        }
        XCTAssertEqual(bad, 0)
    }

    // MARK: known answers, worked out by hand from the layouts

    func testKnownAnswerDequantisation() {
        // F32 / F16 / BF16
        XCTAssertEqual(dequantize(CK_F32, [0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC1], 2), [1, -10])
        XCTAssertEqual(dequantize(CK_F16, bytesOfHalf(0x3C00) + bytesOfHalf(0xC000) + bytesOfHalf(0x0001) + bytesOfHalf(0x7BFF), 4),
                       [1, -2, 0x1p-24, 65504])
        XCTAssertEqual(dequantize(CK_BF16, bytesOfHalf(0x3F80) + bytesOfHalf(0xC0A0), 2), [1, -5])

        // Q4_0: d = 0.5; qs[j] = j | (15-j) << 4  ->  x[j] = (j-8)/2, x[16+j] = (7-j)/2
        var q40: [UInt8] = [0x00, 0x38]
        for j in 0..<16 { q40.append(UInt8(j | ((15 - j) << 4))) }
        let d40 = dequantize(CK_Q4_0, q40, 32)
        XCTAssertEqual(Array(d40[0..<4]), [-4, -3.5, -3, -2.5])
        XCTAssertEqual(d40[8], 0); XCTAssertEqual(d40[15], 3.5)
        XCTAssertEqual(d40[16], 3.5); XCTAssertEqual(d40[31], -4)

        // Q4_1: d = 2, m = -1; every byte 0xC3 -> low 3 -> 5, high 12 -> 23
        let q41: [UInt8] = [0x00, 0x40, 0x00, 0xBC] + [UInt8](repeating: 0xC3, count: 16)
        let d41 = dequantize(CK_Q4_1, q41, 32)
        XCTAssertEqual(d41[0], 5); XCTAssertEqual(d41[15], 5); XCTAssertEqual(d41[16], 23); XCTAssertEqual(d41[31], 23)

        // Q5_0: d = 1; qh bits 0 and 16; qs 0x21 -> x0 = 17-16 = 1, x1 = 1-16 = -15, x16 = 18-16 = 2, x17 = -14
        let q50: [UInt8] = [0x00, 0x3C, 0x01, 0x00, 0x01, 0x00] + [UInt8](repeating: 0x21, count: 16)
        let d50 = dequantize(CK_Q5_0, q50, 32)
        XCTAssertEqual([d50[0], d50[1], d50[16], d50[17]], [1, -15, 2, -14])

        // Q5_1: d = 0.5, m = 10; qh bit 31; qs 0xF0 -> x0 = 10, x16 = 15/2 + 10, x31 = 31/2 + 10
        let q51: [UInt8] = [0x00, 0x38, 0x00, 0x49, 0x00, 0x00, 0x00, 0x80] + [UInt8](repeating: 0xF0, count: 16)
        let d51 = dequantize(CK_Q5_1, q51, 32)
        XCTAssertEqual([d51[0], d51[16], d51[30], d51[31]], [10, 17.5, 17.5, 25.5])

        // Q8_0: d = 0.25, qs[j] = j - 16
        let q80: [UInt8] = [0x00, 0x34] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        let d80 = dequantize(CK_Q8_0, q80, 32)
        XCTAssertEqual([d80[0], d80[16], d80[31]], [-4, 0, 3.75])

        // Q8_1: d = 0.5 (s is not used to dequantise), qs[j] = 2j - 31
        let q81: [UInt8] = [0x00, 0x38, 0x00, 0x00] + (0..<32).map { UInt8(bitPattern: Int8(2 * $0 - 31)) }
        let d81 = dequantize(CK_Q8_1, q81, 32)
        XCTAssertEqual([d81[0], d81[15], d81[31]], [-15.5, -0.5, 15.5])

        // Q8_K: f32 d = 0.25, qs[j] = j - 128
        var q8k: [UInt8] = [0, 0, 0x80, 0x3E] + (0..<256).map { UInt8(bitPattern: Int8($0 - 128)) }
        q8k += [UInt8](repeating: 0, count: 32)
        let d8k = dequantize(CK_Q8_K, q8k, 256)
        XCTAssertEqual([d8k[0], d8k[128], d8k[255]], [-32, 0, 31.75])

        // Q4_K: d = 1, dmin = 0.5. Sub-block 0: scale 2, min 4. Sub-block 5: scale 33 = 0b10_0001, min 17 = 0b01_0001:
        // low 4 bits in scales[9] (scale | min << 4), top 2 bits in scales[1] / scales[5] bits 6-7.
        // Every quant byte 0x97: low nibble 7, high nibble 9.
        var q4k = [UInt8](repeating: 0, count: 144)
        q4k[1] = 0x3C; q4k[3] = 0x38
        q4k[4 + 0] = 2; q4k[4 + 4] = 4
        q4k[4 + 1] = 0b10 << 6; q4k[4 + 5] = 0b01 << 6
        q4k[4 + 9] = 0x11
        for l in 0..<128 { q4k[16 + l] = 0x97 }
        let d4k = dequantize(CK_Q4_K, q4k, 256)
        XCTAssertEqual(d4k[0], 12)        // 1*2*7 - 0.5*4
        XCTAssertEqual(d4k[31], 12)
        XCTAssertEqual(d4k[32], 0)        // sub-block 1: scale 0 (scales[1] & 63), min 0
        XCTAssertEqual(d4k[128], 0)       // sub-block 4 (chunk 2, low nibbles): scale 0, min 0
        XCTAssertEqual(d4k[160], 288.5)   // sub-block 5 (chunk 2, high nibbles): 33*9 - 0.5*17
        XCTAssertEqual(d4k[191], 288.5)

        // Q5_K: d = 1, dmin = 0.25, scale0 = 1, min0 = 2; qh[0] bit 0 -> element 0 +16; qh[1] bit 1 -> element 33 +16
        var q5k = [UInt8](repeating: 0, count: 176)
        q5k[1] = 0x3C; q5k[3] = 0x34
        q5k[4] = 1; q5k[4 + 1] = 3; q5k[8] = 2
        q5k[16] = 0x01; q5k[17] = 0x02
        for l in 0..<128 { q5k[48 + l] = 0x53 }
        let d5k = dequantize(CK_Q5_K, q5k, 256)
        XCTAssertEqual(d5k[0], 18.5)      // 1*1*(3+16) - 0.25*2
        XCTAssertEqual(d5k[1], 2.5)       // 1*1*3 - 0.5
        XCTAssertEqual(d5k[32], 15)       // sub-block 1: scale 3, min 0, q = 5
        XCTAssertEqual(d5k[33], 63)       // 3*(5+16)

        // Q6_K: d = 0.5; scales[0] = 2, [2] = -1, [4] = 3. ql[0] = 0x21, ql[32] = 0x05, qh[0] = 0b0110.
        var q6k = [UInt8](repeating: 0, count: 210)
        q6k[0] = 0x21; q6k[32] = 0x05; q6k[128] = 0x06
        q6k[192] = 2; q6k[194] = UInt8(bitPattern: -1); q6k[196] = 3
        q6k[209] = 0x38
        let d6k = dequantize(CK_Q6_K, q6k, 256)
        XCTAssertEqual(d6k[0], 1)         // q = 1 | 2<<4 = 33 -> 1;  0.5*2*1
        XCTAssertEqual(d6k[1], -32)       // q = 0 -> -32; 0.5*2*-32
        XCTAssertEqual(d6k[32], 5.5)      // q = 5 | 1<<4 = 21 -> -11; 0.5*-1*-11
        XCTAssertEqual(d6k[64], -45)      // q = 2 -> -30; 0.5*3*-30
        XCTAssertEqual(d6k[128], 0)       // second half: scale 0
    }

    func testKnownAnswerDotProducts() {
        // Activations built by hand: Q8_0 with d = 1 and all quants 1 -> the dot is the sum of the weights.
        let ones80: [UInt8] = [0x00, 0x3C] + [UInt8](repeating: 1, count: 32)
        var q40: [UInt8] = [0x00, 0x38]
        for j in 0..<16 { q40.append(UInt8(j | ((15 - j) << 4))) }
        // Q8_1 with d = 1, s = d * sum = 32
        let ones81: [UInt8] = [0x00, 0x3C, 0x00, 0x50] + [UInt8](repeating: 1, count: 32)
        let q41: [UInt8] = [0x00, 0x40, 0x00, 0xBC] + [UInt8](repeating: 0xC3, count: 16)
        // Q8_K with d = 1, all quants 1, bsums 16
        var ones8k: [UInt8] = [0, 0, 0x80, 0x3F] + [UInt8](repeating: 1, count: 256)
        for _ in 0..<16 { ones8k += [16, 0] }
        var q6k = [UInt8](repeating: 0x00, count: 210)   // all q = -32 with scale 1, d = 1 -> -32 * 256
        for j in 0..<16 { q6k[192 + j] = 1 }
        q6k[209] = 0x3C
        let w80: [UInt8] = [0x00, 0x3C] + [UInt8](repeating: 2, count: 32)
        let a80half: [UInt8] = [0x00, 0x38] + [UInt8](repeating: 3, count: 32)

        for ks in availableSets() {
            let s = setName(ks)
            func dot(_ t: ck_type, _ n: Int, _ w: [UInt8], _ a: [UInt8]) -> Float {
                w.withUnsafeBytes { wp in a.withUnsafeBytes { ap in vecDot(ks, t)!(Int64(n), wp.baseAddress, ap.baseAddress) } }
            }
            XCTAssertEqual(dot(CK_Q4_0, 32, q40, ones80), -8, s)          // 0.5 * (sum(j-8) + sum(7-j)) = 0.5 * -16
            XCTAssertEqual(dot(CK_Q4_1, 32, q41, ones81), 448, s)         // 2*(16*3 + 16*12) + (-1)*32
            XCTAssertEqual(dot(CK_Q8_0, 32, w80, a80half), 96, s)         // 32 * 2*3 * 1 * 0.5
            XCTAssertEqual(dot(CK_Q6_K, 256, q6k, ones8k), -8192, s)
            XCTAssertEqual(dot(CK_F32, 2, [0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC1], [0, 0, 0, 0x40, 0, 0, 0x80, 0x3F]), -8, s)
        }
    }

    func testKnownAnswerActivationQuantisers() {
        // Q8_0 / Q8_1: amax 127 -> d = 1; roundf: 2.5 -> 3, -0.5 -> -1, 0.49 -> 0
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = -0.5; x[3] = 0.49
        for ks in availableSets() {
            let q80 = quantize(ks, CK_Q8_0, x)
            XCTAssertEqual(Array(q80[0..<6]), [0x00, 0x3C, 127, 3, 0xFF, 0], setName(ks))
            let q81 = quantize(ks, CK_Q8_1, x)
            XCTAssertEqual(Array(q81[0..<8]), [0x00, 0x3C, 0x08, 0x58, 127, 3, 0xFF, 0], setName(ks))   // s = 129
        }
        // Q8_K: the first element of largest magnitude fixes the sign: -127 comes before 127, so
        // iscale = -127 / -127 = 1 and d = 1; nearest_int rounds ties to even: 2.5 -> 2, 3.5 -> 4,
        // -2.5 -> -2; 0.25 -> 0. bsums: [0] = -127 + 127 = 0, [1] = 2 + 4 - 2 = 4.
        var y = [Float](repeating: 0.25, count: 256)
        y[5] = -127; y[9] = 127; y[20] = 2.5; y[21] = 3.5; y[22] = -2.5
        for ks in availableSets() {
            let q = quantize(ks, CK_Q8_K, y)
            let d = q.withUnsafeBytes { $0.load(as: Float.self) }
            XCTAssertEqual(d, 1, setName(ks))
            XCTAssertEqual(q[4 + 0], 0)
            XCTAssertEqual(Int8(bitPattern: q[4 + 5]), -127)
            XCTAssertEqual(Int8(bitPattern: q[4 + 9]), 127)
            XCTAssertEqual([q[24], q[25], q[26]].map { Int8(bitPattern: $0) }, [2, 4, -2])
            XCTAssertEqual(Int16(q[260]) | Int16(q[261]) << 8, 0)
            XCTAssertEqual(Int16(q[262]) | Int16(q[263]) << 8, 4)
        }
        // ... and with +2 first: iscale = -63.5, d = -1/63.5 (negative), 2 -> -127, -2 -> 127
        var z = [Float](repeating: 0, count: 256)
        z[3] = 2; z[4] = -2
        let qz = quantize(ck_kernels_scalar(), CK_Q8_K, z)
        XCTAssertEqual(qz.withUnsafeBytes { $0.load(as: Float.self) }, -1 / 63.5)
        XCTAssertEqual([qz[7], qz[8]].map { Int8(bitPattern: $0) }, [-127, 127])
    }

    // MARK: storage quantisers

    func testQuantiseRoundTrips() {
        var rng = SplitMix64(state: 7)
        let n = 2048
        for t in allTypes {
            let blk = max(blockElements(t), 32)
            var worst = 0.0
            for rep in 0..<4 {
                let x = (0..<n).map { _ in rng.normal() * (rep == 3 ? 0.001 : 1) + (rep == 2 ? 0.7 : 0) }
                var q = [UInt8](repeating: 0, count: rowBytes(t, n))
                XCTAssertEqual(x.withUnsafeBufferPointer { ck_quantize_row_ref(t, $0.baseAddress, &q, Int64(n)) }, 0)
                let y = dequantize(t, q, n)
                for b in stride(from: 0, to: n, by: blk) {
                    let xs = x[b..<(b + blk)]
                    let amax = Double(xs.map { abs($0) }.max()!), mn = Double(xs.min()!), mx = Double(xs.max()!)
                    let sub = 0x1p-25   // absolute error of a subnormal f16 scale
                    let bound: Double
                    switch t {
                    case CK_F32: bound = 0
                    case CK_F16: bound = amax * 0x1p-11
                    case CK_BF16: bound = amax * 0x1p-8
                    case CK_Q8_0, CK_Q8_1: bound = 0.5 * amax / 127 * 1.13 + 127 * sub
                    case CK_Q8_K: bound = 0.5 * amax / 127 * 1.0001
                    case CK_Q4_0: bound = amax / 8 * 1.01 + 8 * sub
                    case CK_Q5_0: bound = amax / 16 * 1.01 + 16 * sub
                    case CK_Q4_1: bound = 0.5 * (mx - mn) / 15 * 1.02 + abs(mn) * 0x1p-11 + 16 * sub
                    case CK_Q5_1: bound = 0.5 * (mx - mn) / 31 * 1.04 + abs(mn) * 0x1p-11 + 32 * sub
                    case CK_Q4_K: bound = 0.12 * amax + 2048 * sub
                    case CK_Q5_K: bound = 0.06 * amax + 4096 * sub
                    case CK_Q6_K: bound = 0.035 * amax + 4096 * sub
                    default: bound = 0
                    }
                    for i in b..<(b + blk) {
                        let e = abs(Double(x[i]) - Double(y[i]))
                        if amax > 0 { worst = max(worst, e / amax) }
                        if e > bound {
                            XCTFail("\(typeName(t)) round trip: x=\(x[i]) got \(y[i]) bound \(bound)")
                            return
                        }
                    }
                }
            }
            // A constant row and a zero row come back (almost) exactly.
            let zero = [Float](repeating: 0, count: n)
            XCTAssertEqual(dequantize(t, quantize(ck_kernels_scalar(), t, zero), n), zero, typeName(t))
            _ = worst
        }
    }

    // MARK: every set against the scalar reference

    func testSIMDQuantisersMatchScalarBytes() {
        var rng = SplitMix64(state: 11)
        let scalar = ck_kernels_scalar()!
        let specials: [Float] = [.infinity, -.infinity, .nan, -.nan, 65504, 65520, 65519.99, 1e-8, 0x1p-24, 0x1p-25,
                                 -0x1p-14, 1023 * 0x1p-24, 1 + 0x1p-11, 1 + 3 * 0x1p-11, 3.389_531_4e38, Float(bitPattern: 0x0001_16C2)]
        for ks in availableSets() where ks != scalar {
            for t in [CK_F32, CK_F16, CK_BF16, CK_Q8_0, CK_Q8_1, CK_Q8_K] {
                let be = blockElements(t)
                for blocks in 0...(be == 1 ? 67 : (be == 32 ? 12 : 5)) {
                    let n = blocks * be
                    var x = randomFloats(n, block: be == 1 ? 8 : be, &rng)
                    if t == CK_F16 || t == CK_BF16 { for i in 0..<min(n, 16) { x[i] = specials[(i + blocks) % 16] } }
                    let want = quantize(scalar, t, x)
                    for off in [0, 1, 3, 7] {
                        let rb = rowBytes(t, n)
                        let buf = UnsafeMutableRawPointer.allocate(byteCount: rb + off + 16, alignment: 64)
                        defer { buf.deallocate() }
                        buf.initializeMemory(as: UInt8.self, repeating: 0xAB, count: rb + off + 16)
                        x.withUnsafeBufferPointer { quantizer(ks, t)!($0.baseAddress, buf + off, Int64(n)) }
                        let got = [UInt8](UnsafeRawBufferPointer(start: buf + off, count: rb))
                        let guardBytes = [UInt8](UnsafeRawBufferPointer(start: buf + off + rb, count: 16))
                        if rb > 0 && got != Array(want[0..<rb]) || guardBytes != [UInt8](repeating: 0xAB, count: 16) {
                            XCTFail("\(setName(ks)) quantize \(typeName(t)) n=\(n) offset \(off): bytes differ from scalar")
                        }
                    }
                }
            }
        }
    }

    func testVecDotEverySetMatchesScalar() {
        var rng = SplitMix64(state: 0x5EED)
        let scalar = ck_kernels_scalar()!
        let sets = availableSets()
        var failures = 0, comparisons = 0
        for t in allTypes {
            let at = ck_activation_type(t)
            let be = blockElements(t)
            var lengths: [Int]
            switch be {
            case 1: lengths = Array(0...67) + [640, 2048, 2051]
            case 32: lengths = (0...8).map { $0 * 32 } + [640, 2048]
            default: lengths = (0...8).map { $0 * 256 } + [2560, 4096]
            }
            for n in lengths {
                for mode in 0..<2 {
                    let w = randomWeights(t, n, mode: mode, &rng)
                    let a = quantize(scalar, at, randomFloats(n, block: 32, &rng))
                    let ref = w.withUnsafeBytes { wp in a.withUnsafeBytes { vecDot(scalar, t)!(Int64(n), wp.baseAddress, $0.baseAddress) } }
                    let fw = dequantize(t, w, n), fa = dequantize(at, a, n)
                    var mag = Double(abs(ref))
                    for i in 0..<n { mag += abs(Double(fw[i]) * Double(fa[i])) }
                    let pairs: [(Int, Int)] = n <= 256 ? (0..<64).map { ($0 & 7, $0 >> 3) } : (0..<8).map { ($0, (3 * $0 + 1) & 7) }
                    for ks in sets {
                        for (wo, ao) in pairs {
                            let got = misaligned(w, wo) { wp in misaligned(a, ao) { vecDot(ks, t)!(Int64(n), wp, $0) } }
                            comparisons += ks == scalar ? 0 : 1
                            if abs(Double(got) - Double(ref)) > 2e-6 * mag {
                                failures += 1
                                if failures < 20 {
                                    XCTFail("\(setName(ks)) vec_dot \(typeName(t)) n=\(n) mode=\(mode) woff=\(wo) aoff=\(ao): \(got) vs scalar \(ref)")
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(failures, 0)
        if sets.count > 1 { XCTAssertGreaterThan(comparisons, 10000, "SIMD sets were compared") }
    }

    func testDotAndAxpyF32() {
        var rng = SplitMix64(state: 3)
        let scalar = ck_kernels_scalar()!
        for ks in availableSets() {
            for n in 0...67 {
                for ox in 0..<8 {
                    let oy = (ox * 3 + n) % 8
                    let xb = (0..<80).map { _ in rng.normal() }, yb = (0..<80).map { _ in rng.normal() }
                    let got = xb.withUnsafeBufferPointer { x in yb.withUnsafeBufferPointer { ks.pointee.dot_f32(Int64(n), x.baseAddress! + ox, $0.baseAddress! + oy) } }
                    let ref = xb.withUnsafeBufferPointer { x in yb.withUnsafeBufferPointer { scalar.pointee.dot_f32(Int64(n), x.baseAddress! + ox, $0.baseAddress! + oy) } }
                    var mag = 0.0
                    for i in 0..<n { mag += abs(Double(xb[ox + i]) * Double(yb[oy + i])) }
                    XCTAssertLessThanOrEqual(abs(Double(got) - Double(ref)), 1e-6 * mag, "\(setName(ks)) dot_f32 n=\(n) ox=\(ox)")

                    let a = rng.normal()
                    var y1 = yb, y2 = yb
                    xb.withUnsafeBufferPointer { x in
                        y1.withUnsafeMutableBufferPointer { ks.pointee.axpy_f32(Int64(n), a, x.baseAddress! + ox, $0.baseAddress! + oy) }
                        y2.withUnsafeMutableBufferPointer { scalar.pointee.axpy_f32(Int64(n), a, x.baseAddress! + ox, $0.baseAddress! + oy) }
                    }
                    for i in 0..<80 {
                        if i < oy || i >= oy + n {
                            XCTAssertEqual(y1[i], yb[i], "axpy wrote outside its range")
                        } else {
                            let tol = 2.5e-7 * (abs(Double(yb[i])) + abs(Double(a) * Double(xb[ox + i - oy])))
                            XCTAssertLessThanOrEqual(abs(Double(y1[i]) - Double(y2[i])), tol, "\(setName(ks)) axpy n=\(n)")
                        }
                    }
                }
            }
        }
    }

    func testGemvAndGemmMatchVecDot() {
        var rng = SplitMix64(state: 99)
        let scalar = ck_kernels_scalar()!
        for ks in availableSets() {
            for t in [CK_F32, CK_F16, CK_BF16, CK_Q8_0, CK_Q4_0, CK_Q5_0, CK_Q5_1, CK_Q4_K, CK_Q5_K, CK_Q6_K] {
                let at = ck_activation_type(t)
                let n = blockElements(t) == 256 ? 512 : 320
                let rows = 37, ntok = 7, outStride = 41
                let rb = rowBytes(t, n) + 5, ab = rowBytes(at, n) + 3
                var w = [UInt8](repeating: 0, count: rows * rb), a = [UInt8](repeating: 0, count: ntok * ab)
                for r in 0..<rows { w.replaceSubrange(r * rb..<(r * rb + rb - 5), with: randomWeights(t, n, mode: r & 1, &rng)) }
                for k in 0..<ntok {
                    let q = quantize(scalar, at, randomFloats(n, block: 32, &rng))
                    a.replaceSubrange(k * ab..<(k * ab + ab - 3), with: q[0..<(ab - 3)])
                }
                var out = [Float](repeating: -12345, count: ntok * outStride)
                var gv = [Float](repeating: 0, count: rows)
                w.withUnsafeBytes { wp in
                    a.withUnsafeBytes { ap in
                        out.withUnsafeMutableBufferPointer {
                            ck_gemm(ks, t, Int64(n), wp.baseAddress, rb, Int64(rows), ap.baseAddress, ab, Int64(ntok), $0.baseAddress, Int64(outStride))
                        }
                        gv.withUnsafeMutableBufferPointer {
                            ck_gemv(ks, t, Int64(n), wp.baseAddress, rb, Int64(rows), ap.baseAddress! + 2 * ab, $0.baseAddress)
                        }
                        // bit for bit what vec_dot gives, with or without a gemm microkernel
                        var bad = 0
                        for k in 0..<ntok {
                            for r in 0..<outStride {
                                if r < rows {
                                    let want = vecDot(ks, t)!(Int64(n), wp.baseAddress! + r * rb, ap.baseAddress! + k * ab)
                                    if out[k * outStride + r] != want { bad += 1 }
                                    if k == 2 && gv[r] != want { bad += 1 }
                                } else if out[k * outStride + r] != -12345 {
                                    bad += 1
                                }
                            }
                        }
                        XCTAssertEqual(bad, 0, "\(setName(ks)) gemm/gemv \(typeName(t)) differ from vec_dot")
                    }
                }
            }
        }
    }
}
