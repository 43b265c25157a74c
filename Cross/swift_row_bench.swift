// The element-wise steps of the vision encoder as they ran before the C row kernels: the Swift SIMD
// code of Sources/Kernels/ElementWise.swift and Sources/Vision/VisionMath.swift as they were then
// (commit 3bf04f2), compiled as SwiftPM compiles them (-O, baseline x86-64: SIMD8<Float> as two SSE
// halves, no FMA), timed on the shapes and in the units of `kernel_bench --bench-rows` (ns per
// element, thread CPU time, best of 5 runs).
//
//   git show 3bf04f2:Sources/Kernels/ElementWise.swift > Cross/out/ElementWise.swift
//   git show 3bf04f2:Sources/Vision/VisionMath.swift | sed '/^import Kernels/d' > Cross/out/VisionMath.swift
//   swiftc -O -wmo -parse-as-library Cross/out/ElementWise.swift Cross/out/VisionMath.swift \
//       Cross/swift_row_bench.swift -o Cross/out/swift_row_bench
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

var state: UInt64 = 0x2545_F491_4F6C_DD1D
func rndn() -> Float {
    var s: Float = 0
    for _ in 0..<4 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        s += Float((z ^ (z >> 31)) >> 40) / 16_777_216
    }
    return (s - 2) * 1.732_050_8
}

func fixed(_ v: Double, _ digits: Int) -> String {
    let p = pow(10.0, Double(digits))
    return "\((v * p).rounded() / p)"
}

@main
enum SwiftRowBench {
    static func main() {
        let big = 4096 * 1152
        let x = UnsafeMutablePointer<Float>.allocate(capacity: big), y = UnsafeMutablePointer<Float>.allocate(capacity: big)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: 4304), b = UnsafeMutablePointer<Float>.allocate(capacity: 4304)
        for i in 0..<big { y[i] = rndn() }
        for i in 0..<4304 { w[i] = 1 + 0.1 * rndn(); b[i] = 0.1 * rndn() }
        let names = ["softmax (max + exp-shift)", "gelu_tanh + bias", "layer_norm", "residual + bias", "bias (q, k, v)"]
        let perImage: [Double] = [27.0 * 16 * 4096 * 4096, 27.0 * 4096 * 4304, 27.0 * 2 * 4096 * 1152, 27.0 * 2 * 4096 * 1152,
                                  27.0 * 3 * 4096 * 1152]
        let shapes = [(96, 256), (512, 4304), (4096, 1152), (4096, 1152), (4096, 1152)]
        print("Swift element-wise steps (4B vision encoder shapes, one thread): ns per element; CPU s per image")
        var total = 0.0
        for form in 0..<5 {
            for i in 0..<big { x[i] = rndn() * (form == 0 ? 4 : 1) }
            let (nr, n) = shapes[form]
            var best = 1e30
            for rep in 0..<6 {
                let t0 = now()
                for r in 0..<nr {
                    let xr = x + r * n, yr = y + r * n
                    switch form {
                    case 0: _ = ElementWise.expShiftedParts(xr, scale: 1, n, floor: 1)
                    case 1: ElementWise.add(b, into: xr, n); ElementWise.geluTanh(xr, n)
                    case 2: VisionMath.layerNorm(xr, weight: w, bias: b, eps: 1e-6, n: n, out: yr)
                    case 3: ElementWise.add(b, into: xr, n); ElementWise.add(xr, into: yr, n)
                    default: ElementWise.add(b, into: yr, n)
                    }
                }
                let dt = now() - t0
                if rep > 0 && dt < best { best = dt }
            }
            let nsPerElement = best / Double(nr * n) * 1e9
            total += nsPerElement * perImage[form] * 1e-9
            print("swift  \(names[form]): \(fixed(nsPerElement, 3)) ns, \(fixed(nsPerElement * perImage[form] * 1e-9, 2)) s")
        }
        print("swift  all: \(fixed(total, 2)) s")
    }
}
