import Foundation
import TestSupport
import Vision
import XCTest

/// Resizing against Pillow's BILINEAR (the reference llama.cpp's resize ports; values recorded in
/// Tests/Fixtures/vision/golden/resize.json), llama.cpp's letterbox, normalisation, and the Pan &
/// Scan crop choice against transformers' Gemma3ImageProcessor.pan_and_scan.
final class PreprocessTests: XCTestCase {
    func testResizeMatchesPillowBilinear() throws {
        let golden = try GoldenVision.json("resize.json")
        let cases = golden["resize"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        for c in cases {
            let image = try TinyPairs.image(c["image"] as! String)
            let w = c["width"] as! Int, h = c["height"] as! Int
            let resized = ImagePreprocessor.resizeBilinear(image, width: w, height: h)
            XCTAssertEqual([resized.width, resized.height], [w, h])
            let sample = (c["sample"] as! [Int]).map(UInt8.init)
            let step = max(1, resized.pixels.count / 24)
            let ours = stride(from: 0, to: resized.pixels.count, by: step).prefix(sample.count).map { resized.pixels[$0] }
            XCTAssertEqual(ours, sample, "\(c["image"]!) -> \(w)x\(h): sampled bytes")
            XCTAssertEqual(TinyVision.fnv1a64(resized.pixels), c["fnv1a64"] as? String, "\(c["image"]!) -> \(w)x\(h)")
        }
    }

    func testLetterboxMatchesLlamaCppGemma3Preprocessing() throws {
        let golden = try GoldenVision.json("resize.json")
        for c in golden["letterbox"] as! [[String: Any]] {
            let image = try TinyPairs.image(c["image"] as! String)
            let size = c["size"] as! Int
            let boxed = ImagePreprocessor.letterbox(image, size: size)
            XCTAssertEqual([boxed.width, boxed.height], [size, size])
            XCTAssertEqual(TinyVision.fnv1a64(boxed.pixels), c["fnv1a64"] as? String, "\(c["image"]!)")
        }
        // 150 x 100 into 112: 112 x 75 centred, 18 black rows above and 19 below.
        let wide = ImagePreprocessor.letterbox(try TinyPairs.image("wide-rgb.png"), size: 112)
        XCTAssertTrue(wide.pixels[0..<(18 * 112 * 3)].allSatisfy { $0 == 0 })
        XCTAssertTrue(wide.pixels[((18 + 75) * 112 * 3)...].allSatisfy { $0 == 0 })
        XCTAssertFalse(wide.pixels[(18 * 112 * 3)..<(19 * 112 * 3)].allSatisfy { $0 == 0 })
        // An image of exactly the encoder size is used as it is.
        let square = try TinyPairs.image("square-palette-interlaced.png")
        XCTAssertEqual(ImagePreprocessor.letterbox(square, size: 112), square)
    }

    func testResizeIsExactForUniformImagesAndIdentity() {
        // A uniform image stays uniform at any size (weights are normalised per pixel).
        let grey = RGBImage(width: 37, height: 11, fill: (77, 140, 3))
        for (w, h) in [(1, 1), (5, 90), (300, 2), (37, 11)] {
            let r = ImagePreprocessor.resizeBilinear(grey, width: w, height: h)
            XCTAssertTrue(stride(from: 0, to: r.pixels.count, by: 3).allSatisfy {
                r.pixels[$0] == 77 && r.pixels[$0 + 1] == 140 && r.pixels[$0 + 2] == 3
            }, "\(w)x\(h)")
        }
    }

    func testNormalisationToMinusOneOne() {
        let image = RGBImage(width: 2, height: 1, pixels: [0, 255, 128, 255, 0, 51])
        var out = [Float](repeating: 9, count: 6)
        out.withUnsafeMutableBufferPointer {
            ImagePreprocessor.normalize(image, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], into: $0.baseAddress!)
        }
        XCTAssertEqual(out[0], -1)
        XCTAssertEqual(out[1], 1)
        XCTAssertEqual(out[2], (128 / 255 - 0.5) / 0.5, accuracy: 1e-7)
        XCTAssertEqual(out[5], (51 / 255 - 0.5) / 0.5, accuracy: 1e-7)
        XCTAssertTrue(out.allSatisfy { $0 >= -1 && $0 <= 1 })
    }

    func testPanAndScanCropsAsTheReferenceProcessor() {
        // (width, height) -> crops (x, y, w, h), computed with transformers' pan_and_scan
        // (min crop 256, at most 4 crops, activation ratio 1.2).
        let reference: [((Int, Int), [[Int]])] = [
            ((1000, 500), [[0, 0, 500, 500], [500, 0, 500, 500]]),
            ((2000, 500), [[0, 0, 500, 500], [500, 0, 500, 500], [1000, 0, 500, 500], [1500, 0, 500, 500]]),
            ((3000, 500), [[0, 0, 750, 500], [750, 0, 750, 500], [1500, 0, 750, 500], [2250, 0, 750, 500]]),
            ((500, 1000), [[0, 0, 500, 500], [0, 500, 500, 500]]),
            ((600, 500), [[0, 0, 300, 500], [300, 0, 300, 500]]),
            ((590, 500), []),
            ((400, 300), []),
            ((1001, 500), [[0, 0, 501, 500], [501, 0, 500, 500]]),
            ((500, 500), []),
            ((896, 300), [[0, 0, 299, 300], [299, 0, 299, 300], [598, 0, 298, 300]]),
            ((4032, 3024), [[0, 0, 2016, 3024], [2016, 0, 2016, 3024]]),
            ((3024, 4032), [[0, 0, 3024, 2016], [0, 2016, 3024, 2016]]),
            ((1200, 300), [[0, 0, 300, 300], [300, 0, 300, 300], [600, 0, 300, 300], [900, 0, 300, 300]]),
            ((300, 2000), [[0, 0, 300, 500], [0, 500, 300, 500], [0, 1000, 300, 500], [0, 1500, 300, 500]]),
            ((800, 250), []),
        ]
        let pas = PanAndScan()
        for ((w, h), crops) in reference {
            XCTAssertEqual(pas.crops(width: w, height: h).map { [$0.x, $0.y, $0.width, $0.height] }, crops, "\(w)x\(h)")
        }
    }

    func testPanAndScanCropsHoldTheRightPixels() {
        var pixels = [UInt8](repeating: 0, count: 600 * 260 * 3)
        for y in 0..<260 { for x in 0..<600 { pixels[(y * 600 + x) * 3] = UInt8(x % 251); pixels[(y * 600 + x) * 3 + 1] = UInt8(y & 0xFF) } }
        let image = RGBImage(width: 600, height: 260, pixels: pixels)
        let crops = PanAndScan().apply(image)
        XCTAssertEqual(crops.count, 2)
        XCTAssertEqual(crops[1].width, 300)
        XCTAssertEqual(crops[1].pixels[0], UInt8(300 % 251))
        XCTAssertEqual(crops[1].pixels[(5 * 300 + 7) * 3 + 1], 5)
    }
}
