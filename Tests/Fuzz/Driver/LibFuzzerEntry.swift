// The libFuzzer entry points, compiled only into the sanitizer build (-DFUZZING; see
// Tests/Fuzz/run-fuzzers.sh):
//   GEMMA_FUZZ_TARGET=gguf gemma-edge-fuzz [libFuzzer flags] [corpus dirs]
//   gemma-edge-fuzz gguf [libFuzzer flags] [corpus dirs]     (the same; sets GEMMA_FUZZ_TARGET)
// SwiftPM links an executable's `main` to `<module>_main`, so that symbol hands over to
// libFuzzer's driver (`LLVMFuzzerRunDriver`) instead of libFuzzer's own `main`. The target is
// kept in the environment so the processes libFuzzer starts itself (-fork, -jobs) find it too.
#if FUZZING
import FuzzTargets

#if canImport(Glibc)
import Glibc
#endif

nonisolated(unsafe) private var selected: FuzzTarget?

private typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
private typealias RunDriver = @convention(c) (
    UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    TestOneInput
) -> Int32

@_cdecl("gemma_edge_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    // A leading target name is taken out of the arguments and put in the environment.
    if argc >= 2, let first = argv![1], FuzzTarget(rawValue: String(cString: first)) != nil {
        setenv("GEMMA_FUZZ_TARGET", first, 1)
        argv![1] = argv![0]
        argv = argv! + 1
        argc -= 1
    }
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "LLVMFuzzerRunDriver") else {
        fputs("gemma-edge-fuzz: this binary was not linked with libFuzzer (-sanitize=fuzzer)\n", stderr)
        return 2
    }
    let runDriver = unsafeBitCast(symbol, to: RunDriver.self)
    return runDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = getenv("GEMMA_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fputs("gemma-edge-fuzz: name the target (first argument or GEMMA_FUZZ_TARGET): \(names)\n", stderr)
        exit(2)
    }
    target.prepare()
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    do {
        try selected!.run(bytes)
    } catch {
        // A violated property is a finding like a crash: libFuzzer saves the input on abort.
        fputs("gemma-edge-fuzz: \(error)\n", stderr)
        abort()
    }
    return 0
}
#endif
