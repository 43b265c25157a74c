import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The set of C kernels this process uses, chosen once at load from what the CPU reports at run
/// time. Never switched per call.
public struct KernelSet: @unchecked Sendable {
    public let table: UnsafePointer<ck_kernel_set>

    public init(table: UnsafePointer<ck_kernel_set>) { self.table = table }

    /// The portable scalar reference.
    public static var scalar: KernelSet { KernelSet(table: ck_kernels_scalar()) }

    /// The fastest set the CPU can run, limited to `allowed` feature bits (all by default).
    public static func best(allowed: UInt32 = ~0) -> KernelSet { KernelSet(table: ck_kernels_select(allowed)) }

    /// Picks by name ("scalar", "portable", "avx2", "neon", "neon-dotprod", ...) among the sets this CPU runs.
    public static func named(_ name: String) -> KernelSet? { available.first { $0.name == name } }

    /// Every set this CPU runs: the scalar reference, `portable` (PortableInt4.swift), then the C
    /// SIMD sets compiled in whose features the CPU has.
    public static var available: [KernelSet] {
        var out = [UnsafePointer<ck_kernel_set>?](repeating: nil, count: 16)
        let n = Int(ck_kernels_available(&out, 16))
        var sets = out.prefix(n).compactMap { $0.map(KernelSet.init(table:)) }
        sets.insert(.portable, at: 1)
        return sets
    }

    public var name: String { String(cString: table.pointee.name) }

    /// A new set holding only what `fill` puts in it, every other entry completed from the type
    /// traits' scalar kernels (`ck_kernel_set_complete`) and checked. Lives for the process.
    public static func completed(name: String, _ fill: (UnsafeMutablePointer<ck_kernel_set>) -> Void) -> KernelSet {
        let table = UnsafeMutablePointer<ck_kernel_set>.allocate(capacity: 1)
        table.initialize(to: ck_kernel_set())
        table.pointee.name = UnsafePointer(strdup(name))
        fill(table)
        ck_kernel_set_complete(table)
        if let missing = ck_kernel_set_missing(table) {
            preconditionFailure("kernel set \(name) has no \(String(cString: missing))")
        }
        return KernelSet(table: table)
    }

    /// Rounds n floats to the nearest f16 in place (how a query meets f16 KV rows).
    public var roundF16: @convention(c) (UnsafeMutablePointer<Float>?, Int64) -> Void { table.pointee.round_f16 }

    /// Feature names the CPU reports, for diagnostics.
    public static var cpuFeatureNames: [String] {
        let f = ck_cpu_features()
        let names: [(UInt32, String)] = [
            (UInt32(CK_CPU_AVX2), "avx2"), (UInt32(CK_CPU_AVX512), "avx512"), (UInt32(CK_CPU_AVX512VNNI), "avx512vnni"),
            (UInt32(CK_CPU_NEON), "neon"), (UInt32(CK_CPU_DOTPROD), "dotprod"), (UInt32(CK_CPU_I8MM), "i8mm"),
        ]
        return names.filter { f & $0.0 != 0 }.map(\.1)
    }
}
