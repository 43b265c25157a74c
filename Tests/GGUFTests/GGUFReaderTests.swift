import Foundation
import GGUF
import TestSupport
import XCTest

/// Raw GGUF bytes built field by field, so each malformed input of shared/EDGE.md can be made.
struct RawGGUF {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8); u32(version); u64(tensors); u64(kvs)
    }
    mutating func kvU32(_ key: String, _ v: UInt32) { str(key); u32(4); u32(v) }
    mutating func tensorInfo(_ name: String, _ dims: [UInt64], type: UInt32, offset: UInt64) {
        str(name); u32(UInt32(dims.count)); dims.forEach { u64($0) }; u32(type); u64(offset)
    }
    mutating func pad(_ a: Int = 32) { while bytes.count % a != 0 { bytes.append(0) } }
}

final class GGUFReaderTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/gguf-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ bytes: [UInt8], _ name: String = "f.gguf") -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    /// Asserts that opening `bytes` fails with `kind` and a message containing `text`.
    func assertRejects(_ bytes: [UInt8], _ kind: GGUFError.Kind, _ text: String, line: UInt = #line) {
        let p = write(bytes)
        do {
            _ = try GGUFFile(path: p)
            XCTFail("accepted a malformed file (expected \(kind): \(text))", line: line)
        } catch let e as GGUFError {
            XCTAssertEqual(e.kind, kind, "\(e)", line: line)
            XCTAssertTrue(e.description.contains(text), "message '\(e)' lacks '\(text)'", line: line)
            XCTAssertTrue(e.description.contains(p), "message '\(e)' does not name the file", line: line)
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    // MARK: Valid files

    func testWriterRoundTrip() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("test"))
        w.set("a.u8", .uint8(7)); w.set("a.i8", .int8(-7)); w.set("a.u16", .uint16(700)); w.set("a.i16", .int16(-700))
        w.set("a.u32", .uint32(70000)); w.set("a.i32", .int32(-70000)); w.set("a.u64", .uint64(1 << 40))
        w.set("a.i64", .int64(-(1 << 40))); w.set("a.f32", .float32(1.5)); w.set("a.f64", .float64(-2.25))
        w.set("a.bool", .bool(true)); w.set("a.strs", .array(.strings(["x", "", "▁y"])))
        w.set("a.floats", .array(.float32([1, 2.5]))); w.set("a.ints", .array(.int32([-1, 3])))
        let data = (0..<64).map { UInt8($0) }
        w.addTensor(name: "t0", dimensions: [16], type: .f32, data: data)
        w.addTensor(name: "t1", dimensions: [32, 2], type: .q8_0, data: [UInt8](repeating: 1, count: 68))
        let p = dir + "/ok.gguf"
        try w.write(to: p)
        let f = try GGUFFile(path: p)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.keys.first, "general.architecture")
        for (k, v) in w.entries { XCTAssertEqual(f.metadata[k], v, k) }
        XCTAssertEqual(try f.uint32("a.u32"), 70000)
        XCTAssertEqual(try f.float32("a.f32"), 1.5)
        XCTAssertEqual(try f.stringArray("a.strs"), ["x", "", "▁y"])
        XCTAssertEqual(f.tensors.map(\.name), ["t0", "t1"])
        let t1 = try XCTUnwrap(f.tensor(named: "t1"))
        XCTAssertEqual(t1.rows, 2); XCTAssertEqual(t1.rowLength, 32); XCTAssertEqual(t1.byteCount, 68)
        XCTAssertEqual(Array(f.data(of: f.tensors[0])), data)
        XCTAssertEqual(f.tensors.map { $0.fileOffset % 32 }, [0, 0])
    }

    func testTypedAccessorsRefuseWrongTypes() throws {
        var w = GGUFWriter()
        w.set("ints", .array(.int32([1, 2])))
        w.set("name", .string("x"))
        w.set("neg", .int32(-1))
        let f = try GGUFFile(path: write(w.serialize()))
        XCTAssertThrowsError(try f.float32Array("ints")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .wrongType) }
        XCTAssertThrowsError(try f.uint32("name")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .wrongType) }
        XCTAssertThrowsError(try f.uint32("neg")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .wrongType) }
        XCTAssertThrowsError(try f.string("missing")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .missingKey) }
    }

    func testTinyGemmaOfEveryTypeParses() throws {
        for type in TensorType.allCases where type.blockElements <= 256 {
            var m = TinyGemma()
            m.blocks = 2
            m.matrixType = type
            let f = try GGUFFile(path: write(m.serialize(), "\(type).gguf"))
            XCTAssertEqual(f.tensor(named: "blk.0.attn_q.weight")?.type, type)
        }
    }

    // MARK: Malformed files (shared/EDGE.md)

    func testEmptyAndTinyFiles() {
        assertRejects([], .truncated, "empty")
        assertRejects(Array("GG".utf8), .truncated, "magic")
        assertRejects(Array("GGUF".utf8) + [3, 0], .truncated, "version")
    }

    func testBadMagic() {
        var r = RawGGUF(); r.header(tensors: 0, kvs: 0)
        r.bytes[0] = UInt8(ascii: "X")
        assertRejects(r.bytes, .badMagic, "not a GGUF file")
    }

    func testVersions() {
        for v: UInt32 in [0, 1, 4, 0xFFFF_FFFF] {
            var r = RawGGUF(); r.header(version: v, tensors: 0, kvs: 0)
            assertRejects(r.bytes, .badVersion, "version \(v)")
        }
    }

    func testOverflowingCounts() {
        var r = RawGGUF(); r.header(tensors: UInt64.max, kvs: 0)
        assertRejects(r.bytes, .overflow, "tensor count")
        r = RawGGUF(); r.header(tensors: 0, kvs: UInt64.max / 8)
        assertRejects(r.bytes, .overflow, "metadata count")
        r = RawGGUF(); r.header(tensors: 1 << 61, kvs: 1)
        assertRejects(r.bytes, .overflow, "tensor count")
    }

    func testStringLongerThanFile() {
        var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.u64(UInt64.max); r.bytes += Array("key".utf8) + [UInt8](repeating: 0, count: 16)
        assertRejects(r.bytes, .truncated, "length")
        r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(8); r.u64(1 << 40); r.bytes += [UInt8](repeating: 0, count: 16)
        assertRejects(r.bytes, .truncated, "length")
    }

    func testArrayCountLargerThanFile() {
        var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(9); r.u32(6); r.u64(UInt64.max / 2)
        assertRejects(r.bytes, .overflow, "element count")
        r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(9); r.u32(8); r.u64(1 << 50)
        assertRejects(r.bytes, .overflow, "element count")
    }

    func testUnknownAndNestedValueTypes() {
        var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(13); r.u32(0)
        assertRejects(r.bytes, .badValue, "unknown value type 13")
        r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(9); r.u32(9); r.u64(1); r.u32(4); r.u64(1); r.u32(1)
        assertRejects(r.bytes, .badValue, "nested array")
        r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(9); r.u32(77); r.u64(0)
        assertRejects(r.bytes, .badValue, "unknown element type 77")
        r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("k"); r.u32(7); r.bytes.append(2)
        assertRejects(r.bytes, .badValue, "bool")
    }

    func testEmptyAndDuplicateKeys() {
        var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.kvU32("", 1)
        assertRejects(r.bytes, .badKey, "empty metadata key")
        r = RawGGUF(); r.header(tensors: 0, kvs: 2)
        r.kvU32("a", 1); r.kvU32("a", 2)
        assertRejects(r.bytes, .badKey, "duplicate metadata key 'a'")
    }

    func testAlignmentMustBePowerOfTwo() {
        for a: UInt32 in [0, 3, 48] {
            var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
            r.kvU32("general.alignment", a)
            assertRejects(r.bytes, .badValue, "power of two")
        }
        var r = RawGGUF(); r.header(tensors: 0, kvs: 1)
        r.str("general.alignment"); r.u32(8); r.str("32")
        assertRejects(r.bytes, .wrongType, "general.alignment")
    }

    func testTensorNames() {
        var r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo(String(repeating: "n", count: 64), [32], type: 0, offset: 0)
        assertRejects(r.bytes, .badTensor, "longer than 63")
        r = RawGGUF(); r.header(tensors: 2, kvs: 0)
        r.tensorInfo("t", [8], type: 0, offset: 0)
        r.tensorInfo("t", [8], type: 0, offset: 32)
        r.pad(); r.bytes += [UInt8](repeating: 0, count: 64)
        assertRejects(r.bytes, .badTensor, "duplicate tensor name 't'")
    }

    func testTensorShapes() {
        var r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [1, 1, 1, 1, 1], type: 0, offset: 0)
        assertRejects(r.bytes, .badTensor, "5 dimensions")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [], type: 0, offset: 0)
        assertRejects(r.bytes, .badTensor, "0 dimensions")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [UInt64(bitPattern: -5)], type: 0, offset: 0)
        assertRejects(r.bytes, .badTensor, "dimension 0")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [0], type: 0, offset: 0)
        assertRejects(r.bytes, .badTensor, "dimension 0 is 0")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1], type: 0, offset: 0)
        r.pad()
        assertRejects(r.bytes, .overflow, "shape")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [33], type: 8, offset: 0)
        r.pad()
        assertRejects(r.bytes, .badTensor, "not a multiple of the Q8_0 block of 32")
    }

    func testUnknownAndUnsupportedTensorTypes() {
        var r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [256], type: 10, offset: 0)
        assertRejects(r.bytes, .unsupportedType, "type 10 (Q2_K)")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [32], type: 1000, offset: 0)
        assertRejects(r.bytes, .unsupportedType, "type 1000")
    }

    func testTensorDataBounds() {
        // Past the end of the file.
        var r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [16], type: 0, offset: 0)
        r.pad(); r.bytes += [UInt8](repeating: 0, count: 63)
        assertRejects(r.bytes, .truncated, "extends past the end")
        // Offset that overflows when added to the data start.
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [16], type: 0, offset: UInt64.max - 31)
        r.pad()
        assertRejects(r.bytes, .overflow, "offset")
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [16], type: 0, offset: UInt64(Int.max) - 31)
        r.pad()
        assertRejects(r.bytes, .overflow, "extent overflows")
        // Misaligned offset.
        r = RawGGUF(); r.header(tensors: 1, kvs: 0)
        r.tensorInfo("t", [4], type: 0, offset: 4)
        r.pad(); r.bytes += [UInt8](repeating: 0, count: 64)
        assertRejects(r.bytes, .badTensor, "not aligned")
        // Overlapping tensors.
        r = RawGGUF(); r.header(tensors: 2, kvs: 0)
        r.tensorInfo("a", [16], type: 0, offset: 0)
        r.tensorInfo("b", [16], type: 0, offset: 32)
        r.pad(); r.bytes += [UInt8](repeating: 0, count: 128)
        assertRejects(r.bytes, .badTensor, "overlap")
    }

    func testEveryTruncationOfAValidFileIsAnError() throws {
        var m = TinyGemma()
        m.blocks = 1
        m.embedding = 64; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 32
        let full = m.serialize()
        XCTAssertNoThrow(try GGUFFile(path: write(full)))
        // Every cut in the header region and a stride through the data.
        var cuts = Array(0..<min(full.count, 6000))
        cuts += stride(from: 6000, to: full.count, by: 997)
        for cut in cuts {
            let p = write(Array(full[..<cut]), "cut.gguf")
            XCTAssertThrowsError(try GGUFFile(path: p), "cut at \(cut) accepted") { error in
                XCTAssertTrue(error is GGUFError)
            }
        }
    }

    func testRandomCorruptionNeverCrashes() throws {
        var m = TinyGemma()
        m.blocks = 1
        m.embedding = 64; m.feedForward = 64; m.heads = 2; m.kvHeads = 1; m.headDim = 32
        let full = m.serialize()
        var rng = SplitMix(seed: 42)
        for _ in 0..<400 {
            var b = full
            for _ in 0..<Int(rng.next() % 4 + 1) {
                let i = Int(rng.next() % UInt64(min(b.count, 8192)))
                b[i] = UInt8(truncatingIfNeeded: rng.next())
            }
            // Either a clean parse or a GGUFError; never a trap.
            do { _ = try GGUFFile(path: write(b, "c.gguf")) } catch { XCTAssertTrue(error is GGUFError) }
        }
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try GGUFFile(path: dir + "/nope.gguf")) { XCTAssertEqual(($0 as? GGUFError)?.kind, .io) }
        XCTAssertThrowsError(try GGUFFile(path: dir)) { XCTAssertEqual(($0 as? GGUFError)?.kind, .io) }
    }
}
