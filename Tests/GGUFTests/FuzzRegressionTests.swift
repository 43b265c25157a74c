import FuzzTargets
import GGUF
import XCTest

/// The GGUF fuzz target's committed inputs (Tests/Fuzz/corpus/gguf, Tests/Fuzz/regressions/gguf)
/// replayed through the fuzzers' own entry point.
final class GGUFFuzzRegressionTests: XCTestCase {
    func testCommittedFuzzInputs() throws {
        let accepted = try FuzzTarget.gguf.replayCommittedInputs()
        // The writers' files are valid; the hand-cut ones are refused.
        XCTAssertEqual(accepted["tiny-gemma3.gguf"], true)
        XCTAssertEqual(accepted["all-types.gguf"], true)
        XCTAssertEqual(accepted["tensor-types.gguf"], true)
        // A header without tensors still needs its (empty) data section padded to the alignment.
        XCTAssertEqual(accepted["empty-v3.gguf"], false)
        XCTAssertEqual(accepted["truncated.gguf"], false)
    }

    func testBytesInMemoryReadLikeTheSameFileOnDisk() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        w.addTensor(name: "t", dimensions: [32, 2], type: .q8_0, data: [UInt8](repeating: 1, count: 68))
        let bytes = w.serialize()
        let path = NSTemporaryDirectory() + "fuzz-mapping-\(getpid()).gguf"
        try w.write(to: path)
        defer { unlink(path) }
        let disk = try GGUFFile(path: path)
        let memory = try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "memory.gguf")) }
        XCTAssertEqual(memory.keys, disk.keys)
        XCTAssertEqual(memory.metadata, disk.metadata)
        XCTAssertEqual(memory.tensors, disk.tensors)
        XCTAssertEqual(memory.path, "memory.gguf")
        XCTAssertEqual(Array(memory.data(of: memory.tensors[0])), Array(disk.data(of: disk.tensors[0])))
        XCTAssertThrowsError(try MappedFile(copying: UnsafeRawBufferPointer(start: nil, count: 0), name: "empty")) {
            XCTAssertTrue("\($0)".contains("empty"), "\($0)")
        }
    }
}
