import Base
import Foundation
import GGUF
import TestSupport
import XCTest

/// Values, not only structure: non-finite block scales and float values refused at load naming
/// the tensor; CRC32C against its reference; the whole-file model identity; files that are not
/// regular files refused without blocking; stale temp files of killed writers removed.
final class IntegrityTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "/integrity-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func gguf(_ bytes: [UInt8]) throws -> GGUFFile {
        try bytes.withUnsafeBytes { try GGUFFile(mapping: MappedFile(copying: $0, name: "values.gguf")) }
    }

    // MARK: Value checks

    func testEveryQuantisedTypeRefusesANonFiniteScaleNamingTensorAndBlock() throws {
        for type in TensorType.allCases where !type.scaleOffsets.isEmpty {
            let columns = type.blockElements * 4, rows = 3
            let values = (0..<(columns * rows)).map { Float(sin(Double($0) * 0.37)) }
            var w = GGUFWriter()
            w.set("general.architecture", .string("gemma3"))
            w.addTensor(name: "ok", dimensions: [32], type: .f32, data: TinyGemma.encode([Float](repeating: 1, count: 32), .f32))
            w.addTensor(name: "m", dimensions: [columns, rows], type: type, data: TinyGemma.encode(values, type))
            let good = w.serialize()
            XCTAssertNoThrow(try gguf(good).verifyValues(), "\(type)")
            let start = try gguf(good).tensor(named: "m")!.fileOffset
            for field in type.scaleOffsets {
                for (bits, shown) in [(UInt16(0x7C00), "inf"), (0xFC00, "-inf"), (0x7E00, "nan"), (0x7C01, "nan")] {
                    let at = 5 * type.blockBytes + Int(field)
                    let bad = try Corrupt.tensor(good, "m", at: at, [UInt8(bits & 0xFF), UInt8(bits >> 8)])
                    XCTAssertThrowsError(try gguf(bad).verifyValues(), "\(type) field \(field)") { error in
                        guard let e = error as? GGUFError else { return XCTFail("\(error)") }
                        XCTAssertEqual(e.kind, .badValue)
                        XCTAssertEqual(e.offset, start + at, "\(type)")
                        XCTAssertTrue(e.message.contains("tensor 'm' (\(type)) has a non-finite block scale"), e.message)
                        XCTAssertTrue(e.message.contains("= \(shown)) in block 5 of 12"), e.message)
                    }
                }
            }
            // The largest finite f16 (65504) is a legal scale.
            let big = try Corrupt.tensor(good, "m", at: 7 * type.blockBytes + Int(type.scaleOffsets[0]), [0xFF, 0x7B])
            XCTAssertNoThrow(try gguf(big).verifyValues(), "\(type)")
        }
    }

    func testFloatTensorsRefuseANonFiniteValueNamingTheElement() throws {
        for type in [TensorType.f32, .f16, .bf16] {
            var w = GGUFWriter()
            w.set("general.architecture", .string("gemma3"))
            w.addTensor(name: "blk.0.attn_norm.weight", dimensions: [2000], type: type,
                        data: TinyGemma.encode((0..<2000).map { Float($0) - 1000 }, type))
            let good = w.serialize()
            XCTAssertNoThrow(try gguf(good).verifyValues())
            let inf: [UInt8]
            switch type {
            case .f32: inf = withUnsafeBytes(of: Float.infinity.bitPattern.littleEndian) { Array($0) }
            case .f16: inf = [0x00, 0x7C]
            default: inf = [0x80, 0x7F]
            }
            // Element 1500: past the first scanned chunk of 1024.
            let bad = try Corrupt.tensor(good, "blk.0.attn_norm.weight", at: 1500 * type.blockBytes, inf)
            XCTAssertThrowsError(try gguf(bad).verifyValues()) { error in
                let m = "\(error)"
                XCTAssertTrue(m.contains("tensor 'blk.0.attn_norm.weight' (\(type)) holds inf at element 1500 of 2000"), m)
            }
        }
    }

    func testTheRealModelPassesItsValueChecksAndTheirCost() throws {
        let file = try GGUFFile(path: try RealModel.require())
        var times: [Double] = []
        for _ in 0..<3 {
            let t0 = Date()
            try file.verifyValues()
            times.append(Date().timeIntervalSince(t0))
        }
        let best = times.min()!
        print(String(format: "value checks of the real 270M (%d tensors, %.0f MB): %.1f ms the first time (pages "
                     + "mapped as they are read), %.1f ms at best", file.tensors.count, Double(file.mapping.size) / 1e6,
                     times[0] * 1000, best * 1000))
        XCTAssertLessThan(best, 0.5)
    }

    // MARK: CRC32C

    func testCRC32CMatchesItsReferenceAndKnownValues() {
        let check = Array("123456789".utf8)
        check.withUnsafeBytes {
            XCTAssertEqual(CRC32C.checksum($0), 0xE306_9283)
            XCTAssertEqual(CRC32C.reference($0), 0xE306_9283)
        }
        var rng = SplitMix(seed: 7)
        let bytes = (0..<4200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes.withUnsafeBytes { all in
            for offset in 0..<9 {
                for n in [0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1000, 4191 - offset] {
                    let b = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)])
                    let whole = CRC32C.checksum(b, continuing: 0x1234)
                    XCTAssertEqual(whole, CRC32C.reference(b, continuing: 0x1234), "offset \(offset) n \(n)")
                    let half = n / 3
                    let split = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[(b.startIndex + half)...]),
                                                continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[..<(b.startIndex + half)]),
                                                                            continuing: 0x1234))
                    XCTAssertEqual(split, whole)
                    let q = n / 32 * 8
                    let quarters = (0..<4).map { k in
                        CRC32C.reference(UnsafeRawBufferPointer(rebasing: b[(b.startIndex + k * q)..<(k == 3 ? b.endIndex : b.startIndex + k * q + q)]))
                    }
                    XCTAssertEqual(CRC32C.quarters(b), quarters, "offset \(offset) n \(n)")
                }
            }
        }
    }

    // MARK: Model identity

    func testIdentityChangesWithAnyByteOfTheFileAndSurvivesACopy() throws {
        var m = TinyGemma()
        m.blocks = 1; m.embedding = 32; m.feedForward = 32; m.heads = 1; m.kvHeads = 1; m.headDim = 32
        let bytes = m.serialize()
        let base = try gguf(bytes).identity
        XCTAssertEqual(try gguf(bytes).identity, base)
        let path = dir + "/copy.gguf"
        try AtomicFile.write(bytes, to: path)
        XCTAssertEqual(try GGUFFile(path: path).identity, base)
        // A byte deep inside the largest tensor (past the 256 bytes the old fingerprint read).
        let embd = try gguf(bytes).tensor(named: "token_embd.weight")!
        for at in [embd.byteCount / 2, embd.byteCount - 1] {
            var changed = bytes
            changed[embd.fileOffset + at] ^= 0x10
            XCTAssertNotEqual(try gguf(changed).identity, base, "byte \(at)")
        }
        var header = bytes
        header[embd.fileOffset - 1] ^= 1   // the last byte before the data section
        XCTAssertNotEqual(try gguf(header).identity, base)
    }

    // MARK: Files that are not regular files

    func testFIFOsDirectoriesAndDevicesAreRefusedWithoutBlocking() throws {
        let fifo = dir + "/model.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        for (path, kind) in [(fifo, "a FIFO"), (dir!, "a directory"), ("/dev/null", "a character device")] {
            let t0 = Date()
            XCTAssertThrowsError(try GGUFFile(path: path)) { error in
                XCTAssertTrue("\(error)".contains("not a regular file (\(kind))"), "\(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 1, path)
        }
    }

    // MARK: Temp files of killed writers

    func testAWriteRemovesTheTempFilesOfDeadProcessesOnly() throws {
        let target = dir + "/state.bin"
        // A process that has exited: its pid names no process any more.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let dead = dir + "/state.bin.tmp.\(p.processIdentifier)"
        let live = dir + "/state.bin.tmp.1"             // init is always running
        let other = dir + "/other.bin.tmp.\(p.processIdentifier)"   // another file's: not ours to remove
        for f in [dead, live, other] { XCTAssertTrue(FileManager.default.createFile(atPath: f, contents: Data(count: 4096))) }
        try AtomicFile.write([1, 2, 3], to: target)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target + ".tmp.\(getpid())"))
        XCTAssertEqual(FileManager.default.contents(atPath: target), Data([1, 2, 3]))
    }
}
