import CPNG
import Foundation
@testable import Profiler
import XCTest

/// PNG encoding through libpng, decoded back, and the charts' content.
final class ChartTests: XCTestCase {
    /// Walks the chunks, checking the signature, every CRC and the IHDR fields.
    func checkChunks(_ data: Data, width: Int, height: Int, file: StaticString = #filePath, line: UInt = #line) {
        let b = [UInt8](data)
        XCTAssertEqual(Array(b.prefix(8)), [137, 80, 78, 71, 13, 10, 26, 10], file: file, line: line)
        func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for x in bytes {
                c ^= UInt32(x)
                for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            }
            return ~c
        }
        var i = 8
        var types: [String] = []
        while i + 12 <= b.count {
            let n = be32(i)
            let type = String(decoding: b[(i + 4)..<(i + 8)], as: UTF8.self)
            types.append(type)
            XCTAssertEqual(UInt32(be32(i + 8 + n)), crc(b[(i + 4)..<(i + 8 + n)]), "CRC of \(type)", file: file, line: line)
            if type == "IHDR" {
                XCTAssertEqual(be32(i + 8), width, file: file, line: line)
                XCTAssertEqual(be32(i + 12), height, file: file, line: line)
                XCTAssertEqual(b[i + 16], 8, "bit depth", file: file, line: line)
                XCTAssertEqual(b[i + 17], 6, "RGBA", file: file, line: line)
            }
            i += 12 + n
        }
        XCTAssertEqual(i, b.count, file: file, line: line)
        XCTAssertEqual(types.first, "IHDR", file: file, line: line)
        XCTAssertEqual(types.last, "IEND", file: file, line: line)
        XCTAssertTrue(types.contains("IDAT"), file: file, line: line)
    }

    func testCanvasRoundTripsThroughLibpng() throws {
        let c = Canvas(width: 37, height: 23)
        c.fillRect(x: 3, y: 4, width: 10, height: 5, RGBA(200, 10, 20))
        c.line(0, 22, 36, 0, RGBA(0, 0, 255))
        c.fillRect(x: 20, y: 10, width: 5, height: 5, RGBA(0, 255, 0, 128))  // blended over white
        c.text("P99 12.5%", x: 1, y: 14, .black)
        let png = try c.png()
        checkChunks(png, width: 37, height: 23)
        let d = try PNG.decode(png)
        XCTAssertEqual(d.width, 37)
        XCTAssertEqual(d.height, 23)
        XCTAssertEqual(d.rgba, c.pixels)
        XCTAssertEqual(c.pixel(5, 5), RGBA(200, 10, 20))
        XCTAssertEqual(c.pixel(22, 12), RGBA(127, 255, 127))
    }

    func testPNGErrorsAreMessages() {
        XCTAssertThrowsError(try PNG.decode(Data("not a png at all".utf8))) { XCTAssertFalse("\($0)".isEmpty) }
        XCTAssertThrowsError(try PNG.encode(rgba: [1, 2, 3], width: 1, height: 1))
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var err = [CChar](repeating: 0, count: 64)
        XCTAssertEqual(cpng_encode_rgba8(nil, 1, 1, 4, &out, &size, &err, 64), -1)
        XCTAssertTrue(String(cString: err).contains("null"))
        // A corrupted chunk fails its CRC.
        var png = [UInt8](try! Canvas(width: 8, height: 8).png())
        png[40] ^= 0xFF
        XCTAssertThrowsError(try PNG.decode(Data(png)))
        // Dimensions above the limit are refused before decoding.
        XCTAssertThrowsError(try PNG.decode(try! Canvas(width: 64, height: 64).png(), maxPixels: 100)) {
            XCTAssertTrue("\($0)".contains("limit"), "\($0)")
        }
    }

    func testTicksAreRound() {
        XCTAssertEqual(Charts.ticks(0, 10, count: 5), [0, 2, 4, 6, 8, 10])
        let t = Charts.ticks(0.3, 0.95, count: 6)
        XCTAssertEqual(t.count, 3)
        for (a, b) in zip(t, [0.4, 0.6, 0.8]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(Charts.ticks(5, 5), [5])
    }

    /// Counts pixels of `color` inside a rectangle.
    func count(_ img: (width: Int, height: Int, rgba: [UInt8]), _ color: RGBA, x: Range<Int>, y: Range<Int>) -> Int {
        var n = 0
        for yy in y { for xx in x {
            let i = (yy * img.width + xx) * 4
            if img.rgba[i] == color.r && img.rgba[i + 1] == color.g && img.rgba[i + 2] == color.b { n += 1 }
        } }
        return n
    }

    func testTimelineDrawsSeriesAndShadesPhases() throws {
        let times = stride(from: 0.0, through: 4, by: 0.1).map { $0 }
        let spans = [PhaseSpan(kind: .load, start: 0.2, end: 0.8, conversation: nil),
                     PhaseSpan(kind: .prefill, start: 1, end: 1.5, conversation: 0),
                     PhaseSpan(kind: .decode, start: 1.5, end: 3.5, conversation: 0)]
        let canvas = Charts.timeline(times: times, power: (times, times.map { 2 + sin($0) }), powerLabel: "HWMON",
                                     temperatures: [("cpu-thermal", times.map { 50 + $0 })],
                                     frequencies: [("cpu0", times.map { _ in 1800 })],
                                     latency: (Array(times[15...35]), times[15...35].map { 40 + $0 }), spans: spans, title: "TEST")
        let img = try PNG.decode(try canvas.png())
        XCTAssertEqual(img.width, 1100)
        XCTAssertEqual(img.height, 1050)
        XCTAssertGreaterThanOrEqual(count(img, Charts.palette[3], x: 70..<1070, y: 800..<990), 21 * 9 - 20)  // one dot per token
        // The power line (palette 0) is inside the power plot, the temperature line in its own.
        XCTAssertGreaterThan(count(img, Charts.palette[0], x: 70..<1070, y: 80..<270), 500)
        XCTAssertGreaterThan(count(img, Charts.palette[1], x: 70..<1070, y: 320..<510), 500)
        // Decode shading over white: the blended colour appears in the plot area.
        let c = Charts.decodeShade, a = Int(c.a)
        let shaded = RGBA(UInt8((Int(c.r) * a + 255 * (255 - a)) / 255), UInt8((Int(c.g) * a + 255 * (255 - a)) / 255),
                          UInt8((Int(c.b) * a + 255 * (255 - a)) / 255))
        XCTAssertGreaterThan(count(img, shaded, x: 70..<1070, y: 560..<750), 10_000)

        let empty = Charts.timeline(times: times, power: nil, powerLabel: "NONE", temperatures: [], frequencies: [],
                                    spans: spans, title: "EMPTY")
        let e = try PNG.decode(try empty.png())
        XCTAssertEqual(count(e, Charts.palette[0], x: 70..<1070, y: 80..<270), 0)
        XCTAssertGreaterThan(count(e, RGBA(160, 40, 40), x: 70..<1070, y: 80..<270), 100)  // the "NO POWER SOURCE" text
    }

    func testLatencyHistogramHasBars() throws {
        let values = (0..<200).map { 40 + Double($0 % 20) * 0.5 }
        var l = LatencyRecorder()
        values.forEach { l.record(seconds: $0 / 1000) }
        let img = try PNG.decode(try Charts.latencyHistogram(milliseconds: values, summary: l.summary, title: "ITL").png())
        XCTAssertEqual(img.width, 900)
        XCTAssertGreaterThan(count(img, Charts.palette[1], x: 70..<870, y: 60..<440), 5_000)
        let none = try PNG.decode(try Charts.latencyHistogram(milliseconds: [], summary: nil, title: "ITL").png())
        XCTAssertEqual(count(none, Charts.palette[1], x: 70..<870, y: 60..<440), 0)
    }
}
