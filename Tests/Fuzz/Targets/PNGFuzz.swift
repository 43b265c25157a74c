import CPNG
import Foundation
import Profiler
import Vision

/// CPNG's one PNG decoder on the same bytes in both outputs: RGBA `cpngd_decode_rgba8` (through
/// the profiler's `PNG.decode`) and the vision path's `cpngd_read_info` / `cpngd_decode_rgb8`
/// (through `ImageDecoder.decode`, which also reads PPM/PGM), then the vision resize of whatever
/// decoded. Limits are small so one input cannot take seconds.
enum PNGFuzz {
    static let maxPixels = 1 << 20

    static var limits: ImageLimits {
        var l = ImageLimits()
        l.maxSide = 4096
        l.maxPixels = maxPixels
        l.background = (12, 34, 56)
        return l
    }

    /// True when `ImageDecoder` decoded the image.
    static func run(_ data: [UInt8]) throws -> Bool {
        if let image = try? PNG.decode(Data(data), maxPixels: maxPixels) {
            guard image.width > 0, image.height > 0, image.width * image.height <= maxPixels,
                  image.rgba.count == image.width * image.height * 4 else {
                throw FuzzTarget.png.finding("cpngd_decode_rgba8 returned \(image.width)x\(image.height) with "
                                             + "\(image.rgba.count) bytes")
            }
        }
        guard let image = try? ImageDecoder.decode(data, name: "fuzz", limits: limits) else { return false }
        guard image.pixels.count == image.width * image.height * 3, image.width * image.height <= maxPixels else {
            throw FuzzTarget.png.finding("ImageDecoder returned \(image.width)x\(image.height) with \(image.pixels.count) bytes")
        }
        // The encoder's letterbox (aspect kept, centred) and a free resize to sizes taken from the
        // image itself, both ways (shrinking and growing).
        let side = 1 + (image.width &+ 3 &* image.height) % 48
        let boxed = ImagePreprocessor.letterbox(image, size: side)
        guard boxed.width == side, boxed.height == side else {
            throw FuzzTarget.png.finding("letterbox to \(side) gave \(boxed.width)x\(boxed.height)")
        }
        let w = 1 + (image.height % 40), h = 1 + (image.width % 40)
        let resized = ImagePreprocessor.resizeBilinear(image, width: w, height: h)
        guard resized.width == w, resized.height == h, resized.pixels.count == w * h * 3 else {
            throw FuzzTarget.png.finding("resize to \(w)x\(h) gave \(resized.width)x\(resized.height)")
        }
        // A solid image must stay solid through the resize (the weights of each output pixel sum to one).
        if let first = image.pixels.first, image.pixels.allSatisfy({ $0 == first }),
           !resized.pixels.allSatisfy({ $0 == first }) {
            throw FuzzTarget.png.finding("resizing a solid \(image.width)x\(image.height) image changed its colour")
        }
        return true
    }
}
