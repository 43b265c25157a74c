import Foundation
import TestSupport
import Vision
import XCTest

/// The PNG decoder (libpng through CPNG) on every colour type, bit depth, tRNS and interlacing,
/// checked against the formulas Benchmarks/peer/vision/make-images.py drew the images from; the
/// binary PPM/PGM reader; and bad files of every kind.
final class ImageDecoderTests: XCTestCase {
    static let w = 13, h = 7
    /// A background no fixture pixel is likely to equal, so compositing shows.
    static let background: (UInt8, UInt8, UInt8) = (10, 200, 30)

    static func rgb8(_ x: Int, _ y: Int) -> [Int] { [(x * 7 + y * 3) % 256, (x * 2 + y * 11 + 60) % 256, (x * x + y) % 256] }
    static func grey8(_ x: Int, _ y: Int) -> Int { (x * 9 + y * 5) % 256 }
    static func alpha8(_ x: Int, _ y: Int) -> Int { (x * 16 + y * 37) % 256 }
    static func palette(_ i: Int) -> [Int] { [(i * 37) % 256, (i * 91 + 5) % 256, (i * 13 + 200) % 256] }
    static var bg: [Int] { [Int(background.0), Int(background.1), Int(background.2)] }

    /// c over the background with alpha a, as the decoder documents it.
    static func over(_ c: [Int], _ a: Int) -> [Int] { zip(c, bg).map { ($0 * a + $1 * (255 - a) + 127) / 255 } }

    /// The expected RGB of pixel (x, y) of each fixture.
    static let expected: [String: (Int, Int) -> [Int]] = {
        var e: [String: (Int, Int) -> [Int]] = [:]
        for bits in [1, 2, 4] {
            let top = (1 << bits) - 1
            e["grey\(bits)"] = { x, y in let g = (x + y) % (top + 1) * 255 / top; return [g, g, g] }
        }
        e["grey4-interlaced"] = e["grey4"]
        e["grey8"] = { x, y in [grey8(x, y), grey8(x, y), grey8(x, y)] }
        e["grey16"] = e["grey8"]
        let key = grey8(2, 1)
        e["grey8-trns"] = { x, y in grey8(x, y) == key ? bg : [grey8(x, y), grey8(x, y), grey8(x, y)] }
        e["greyalpha8"] = { x, y in over([grey8(x, y), grey8(x, y), grey8(x, y)], alpha8(x, y)) }
        e["greyalpha16"] = e["greyalpha8"]
        e["rgb8"] = { x, y in rgb8(x, y) }
        e["rgb8-interlaced"] = e["rgb8"]
        e["rgb16"] = e["rgb8"]
        let colour = rgb8(4, 3)
        e["rgb8-trns"] = { x, y in rgb8(x, y) == colour ? bg : rgb8(x, y) }
        e["rgba8"] = { x, y in over(rgb8(x, y), alpha8(x, y)) }
        e["rgba16"] = e["rgba8"]
        e["rgba16-interlaced"] = e["rgba8"]
        for bits in [1, 2, 4, 8] {
            e["palette\(bits)"] = { x, y in palette((x * 3 + y) % (1 << bits)) }
        }
        e["palette8-interlaced"] = e["palette8"]
        e["palette8-trns"] = { x, y in let i = (x * 3 + y) % 256; return over(palette(i), (i * 17) % 256) }
        return e
    }()

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Fixtures.url("vision/images/\(name)")))
    }

    static var limits: ImageLimits {
        var l = ImageLimits()
        l.background = background
        return l
    }

    func testEveryColourTypeDepthAndInterlace() throws {
        XCTAssertEqual(Self.expected.count, 22)
        for (name, pixel) in Self.expected.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(try Self.bytes(name + ".png"), name: name, limits: Self.limits)
            XCTAssertEqual(image.width, Self.w, name)
            XCTAssertEqual(image.height, Self.h, name)
            var wrong = 0
            for y in 0..<Self.h {
                for x in 0..<Self.w {
                    let got = (0..<3).map { Int(image.pixels[(y * Self.w + x) * 3 + $0]) }
                    if got != pixel(x, y) {
                        if wrong == 0 { XCTFail("\(name) (\(x), \(y)): \(got), expected \(pixel(x, y))") }
                        wrong += 1
                    }
                }
            }
            XCTAssertEqual(wrong, 0, "\(name): \(wrong) wrong pixels")
        }
    }

    func testAlphaUsesTheStatedBackground() throws {
        var white = ImageLimits(), black = ImageLimits()
        black.background = (0, 0, 0)
        white.background = (255, 255, 255)
        let png = try Self.bytes("rgba8.png")
        let a = try ImageDecoder.decode(png, limits: white), b = try ImageDecoder.decode(png, limits: black)
        // Pixel (0, 0) has alpha 0: it is the background itself.
        XCTAssertEqual(Array(a.pixels[0..<3]), [255, 255, 255])
        XCTAssertEqual(Array(b.pixels[0..<3]), [0, 0, 0])
        XCTAssertNotEqual(a.pixels, b.pixels)
    }

    // MARK: Bad PNGs

    func testTruncatedPNGsAreErrors() throws {
        for name in ["rgb8.png", "rgba16-interlaced.png", "palette4.png"] {
            let png = try Self.bytes(name)
            for cut in [8, 20, 33, png.count / 2, png.count - 13, png.count - 1] {
                XCTAssertThrowsError(try ImageDecoder.decode(Array(png[0..<cut]), name: name), "\(name) cut at \(cut)") {
                    XCTAssertTrue("\($0)".contains("PNG"), "\($0)")
                }
            }
        }
    }

    func testCorruptDataIsAnError() throws {
        let png = try Self.bytes("rgb8.png")
        // A damaged header whose CRC no longer matches.
        var header = png
        let ihdr = try XCTUnwrap(Self.chunk("IHDR", in: header))
        header[ihdr.data + 9] ^= 0x04
        XCTAssertThrowsError(try ImageDecoder.decode(header)) { XCTAssertTrue("\($0)".contains("CRC"), "\($0)") }
        // Damaged image data, with and without a recomputed CRC: zlib finds the stream corrupt.
        var data = png
        let idat = try XCTUnwrap(Self.chunk("IDAT", in: data))
        data[idat.data + 5] ^= 0x55
        XCTAssertThrowsError(try ImageDecoder.decode(data)) { XCTAssertTrue("\($0)".contains("IDAT"), "\($0)") }
        Self.fixCRC(&data, idat)
        XCTAssertThrowsError(try ImageDecoder.decode(data)) { XCTAssertTrue("\($0)".contains("IDAT"), "\($0)") }
        // A palette image whose indices point past a shortened palette.
        var pal = try Self.bytes("palette8.png")
        let plte = try XCTUnwrap(Self.chunk("PLTE", in: pal))
        pal[plte.start + 2] = 0; pal[plte.start + 3] = 3  // PLTE length 256*3 -> 3: the file no longer parses
        XCTAssertThrowsError(try ImageDecoder.decode(pal))
    }

    func testZeroAndAbsurdSizesAreErrorsBeforeAllocation() throws {
        let png = try Self.bytes("grey8.png")
        for (w, h, what) in [(0, 7, "zero"), (13, 0, "zero"), (100_000, 100_000, "limit"), (20_000, 1, "limit"),
                             (0x7fff_ffff, 0x7fff_ffff, "limit")] {
            XCTAssertThrowsError(try ImageDecoder.decode(Self.withSize(png, w, h)), "\(w)x\(h)") {
                XCTAssertTrue("\($0)".lowercased().contains(what), "\(w)x\(h): \($0)")
            }
        }
        // Within the per-side limit but over the pixel limit: refused by the size check, which runs
        // before the pixels are allocated (10,000 x 10,000 x 3 bytes would be 300 MB).
        XCTAssertThrowsError(try ImageDecoder.decode(Self.withSize(png, 10_000, 10_000))) {
            XCTAssertTrue("\($0)".contains("larger than the limit"), "\($0)")
        }
    }

    func testNotAnImageEmptyAndOversizedFiles() throws {
        XCTAssertThrowsError(try ImageDecoder.decode([])) { XCTAssertTrue("\($0)".contains("empty")) }
        XCTAssertThrowsError(try ImageDecoder.decode(Array("GIF89a not a png".utf8))) {
            XCTAssertTrue("\($0)".contains("not a PNG"))
        }
        var small = ImageLimits()
        small.maxFileBytes = 100
        XCTAssertThrowsError(try ImageDecoder.decode(try Self.bytes("rgb8.png"), limits: small)) {
            XCTAssertTrue("\($0)".contains("over the limit"))
        }
        XCTAssertThrowsError(try ImageDecoder.load(path: "/nonexistent/image.png"))
        let dir = NSTemporaryDirectory() + "/gemma-edge-empty-\(getpid()).png"
        FileManager.default.createFile(atPath: dir, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try ImageDecoder.load(path: dir)) { XCTAssertTrue("\($0)".contains("empty")) }
    }

    // MARK: PPM / PGM

    func testBinaryPPMAndPGM() throws {
        let ppm = Array("P6\n# a comment\n3 2\n255\n".utf8) + (0..<18).map { UInt8($0 * 10) }
        let a = try ImageDecoder.decode(ppm)
        XCTAssertEqual([a.width, a.height], [3, 2])
        XCTAssertEqual(a.pixels, (0..<18).map { UInt8($0 * 10) })
        let pgm = Array("P5 2 2 255\n".utf8) + [0, 100, 200, 255]
        XCTAssertEqual(try ImageDecoder.decode(pgm).pixels, [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255])
        // 16-bit samples, maxval 1000: scaled to 0...255 with rounding.
        let wide = Array("P5 2 1 1000\n".utf8) + [0x03, 0xE8, 0x01, 0xF4]
        XCTAssertEqual(try ImageDecoder.decode(wide).pixels, [255, 255, 255, 128, 128, 128])
        let small = Array("P6 1 1 15\n".utf8) + [15, 0, 8]
        XCTAssertEqual(try ImageDecoder.decode(small).pixels, [255, 0, 136])
    }

    func testBadPPMsAreErrors() throws {
        let cases: [(String, [UInt8])] = [
            ("truncated samples", Array("P6 2 2 255\n".utf8) + [1, 2, 3]),
            ("truncated header", Array("P6 2 2".utf8)),
            ("maxval 0", Array("P6 1 1 0\n".utf8) + [0, 0, 0]),
            ("maxval too big", Array("P6 1 1 70000\n".utf8) + [0, 0, 0, 0, 0, 0]),
            ("zero width", Array("P6 0 1 255\n".utf8)),
            ("sample over maxval", Array("P5 1 1 10\n".utf8) + [11]),
            ("huge", Array("P6 99999 99999 255\n".utf8) + [0, 0, 0]),
            ("absurd number", Array("P6 99999999999999999999 1 255\n".utf8)),
            ("no whitespace", Array("P61 1 255\n".utf8)),
        ]
        for (what, bytes) in cases {
            XCTAssertThrowsError(try ImageDecoder.decode(bytes), what)
        }
    }

    // MARK: PNG surgery

    /// Where chunk `type` is: the offset of its length field and of its data, and the data length.
    static func chunk(_ type: String, in png: [UInt8]) -> (start: Int, data: Int, length: Int)? {
        var i = 8
        while i + 8 <= png.count {
            let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
            if String(decoding: png[(i + 4)..<(i + 8)], as: UTF8.self) == type { return (i, i + 8, length) }
            i += 12 + length
        }
        return nil
    }

    static func fixCRC(_ png: inout [UInt8], _ c: (start: Int, data: Int, length: Int)) {
        let crc = crc32(Array(png[(c.start + 4)..<(c.data + c.length)]))
        for k in 0..<4 { png[c.data + c.length + k] = UInt8((crc >> (24 - 8 * k)) & 0xFF) }
    }

    /// The PNG with its IHDR width and height replaced (and a valid CRC).
    static func withSize(_ png: [UInt8], _ w: Int, _ h: Int) -> [UInt8] {
        var p = png
        let ihdr = chunk("IHDR", in: p)!
        for k in 0..<4 {
            p[ihdr.data + k] = UInt8((w >> (24 - 8 * k)) & 0xFF)
            p[ihdr.data + 4 + k] = UInt8((h >> (24 - 8 * k)) & 0xFF)
        }
        fixCRC(&p, ihdr)
        return p
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
