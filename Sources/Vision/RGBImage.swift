// Image input: 8-bit RGB pixels from PNG (through libpng) or binary PPM/PGM files, with every size
// checked against limits before anything is allocated for the pixels.
import CPNG
import Foundation

/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B.
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// width * height * 3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// One colour everywhere.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            p[3 * i] = fill.0
            p[3 * i + 1] = fill.1
            p[3 * i + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: p)
    }

    /// The rectangle at (x, y) of size w x h (inside the image).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height)
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for row in 0..<h {
            let src = ((y + row) * width + x) * 3
            out[(row * w * 3)..<((row + 1) * w * 3)] = pixels[src..<(src + w * 3)]
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}

/// What an image file may be before it is refused. Checked before pixels are allocated.
public struct ImageLimits: Sendable, Equatable {
    /// Largest file read.
    public var maxFileBytes: Int = 64 << 20
    /// Largest width and height.
    public var maxSide: Int = 16384
    /// Largest width * height (a 12 MP phone photo is 12 million).
    public var maxPixels: Int = 40_000_000
    /// The colour transparent pixels are composited over (RGB).
    public var background: (UInt8, UInt8, UInt8) = (255, 255, 255)

    public init() {}

    public static func == (a: ImageLimits, b: ImageLimits) -> Bool {
        a.maxFileBytes == b.maxFileBytes && a.maxSide == b.maxSide && a.maxPixels == b.maxPixels
            && a.background == b.background
    }

    func check(width: Int, height: Int, file: String) throws {
        guard width > 0, height > 0 else { throw VisionError.badImage(file: file, "image is empty (\(width)x\(height))") }
        guard width <= maxSide, height <= maxSide, width * height <= maxPixels else {
            throw VisionError.badImage(file: file, "image is \(width)x\(height): larger than the limit of "
                                       + "\(maxSide) per side and \(maxPixels) pixels")
        }
    }
}

/// Reads PNG and binary PPM (P6) / PGM (P5) images.
public enum ImageDecoder {
    /// Decodes a file, choosing the format from its first bytes.
    public static func load(path: String, limits: ImageLimits = ImageLimits()) throws -> RGBImage {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw VisionError.badImage(file: path, "cannot open the image file")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        guard size <= limits.maxFileBytes else {
            throw VisionError.badImage(file: path, "the file is \(size) bytes, over the limit of \(limits.maxFileBytes)")
        }
        try? handle.seek(toOffset: 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return try decode([UInt8](data), name: path, limits: limits)
    }

    /// Decodes image bytes (`name` only labels errors).
    public static func decode(_ bytes: [UInt8], name: String = "image", limits: ImageLimits = ImageLimits()) throws -> RGBImage {
        guard !bytes.isEmpty else { throw VisionError.badImage(file: name, "the file is empty") }
        guard bytes.count <= limits.maxFileBytes else {
            throw VisionError.badImage(file: name, "the image is \(bytes.count) bytes, over the limit of \(limits.maxFileBytes)")
        }
        if bytes.count >= 8, bytes.withUnsafeBufferPointer({ cpngd_is_png($0.baseAddress, $0.count) }) != 0 {
            return try decodePNG(bytes, name: name, limits: limits)
        }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "6") || bytes[1] == UInt8(ascii: "5") {
            return try PPMDecoder.decode(bytes, name: name, limits: limits)
        }
        throw VisionError.badImage(file: name, "not a PNG or binary PPM/PGM image")
    }

    static func decodePNG(_ bytes: [UInt8], name: String, limits: ImageLimits) throws -> RGBImage {
        var err = [CChar](repeating: 0, count: 256)
        var info = cpngd_info()
        let side = UInt32(min(limits.maxSide, Int(UInt32.max)))
        let rc = bytes.withUnsafeBufferPointer { b in
            cpngd_read_info(b.baseAddress, b.count, side, side, &info, &err, err.count)
        }
        guard rc == 0 else { throw VisionError.badImage(file: name, "PNG: " + String(cString: err)) }
        let w = Int(info.width), h = Int(info.height)
        try limits.check(width: w, height: h, file: name)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let bg = [limits.background.0, limits.background.1, limits.background.2]
        let rc2 = bytes.withUnsafeBufferPointer { b in
            pixels.withUnsafeMutableBufferPointer { p in
                cpngd_decode_rgb8(b.baseAddress, b.count, info.width, info.height, bg, p.baseAddress, &err, err.count)
            }
        }
        guard rc2 == 0 else { throw VisionError.badImage(file: name, "PNG: " + String(cString: err)) }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}

/// Binary Netpbm: P6 (RGB) and P5 (grey), maxval 1...65535 (two bytes big-endian above 255),
/// scaled to 8 bits with rounding. Comments (`#` to end of line) are allowed in the header.
enum PPMDecoder {
    static func decode(_ b: [UInt8], name: String, limits: ImageLimits) throws -> RGBImage {
        let channels = b[1] == UInt8(ascii: "6") ? 3 : 1
        var i = 2
        func fail(_ m: String) -> VisionError { .badImage(file: name, "PPM: " + m) }
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }
        func number(_ what: String) throws -> Int {
            // Skip whitespace and comments, then read decimal digits (at most 9: no overflow).
            while i < b.count {
                if isSpace(b[i]) { i += 1 } else if b[i] == UInt8(ascii: "#") {
                    while i < b.count, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                } else { break }
            }
            var v = 0, digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                guard digits < 9 else { throw fail("\(what) is too large") }
                v = v * 10 + Int(b[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0 else { throw fail(i >= b.count ? "truncated header" : "bad \(what) in the header") }
            return v
        }
        guard b.count > 2, isSpace(b[2]) else { throw fail("bad header") }
        let w = try number("width"), h = try number("height"), maxval = try number("maxval")
        try limits.check(width: w, height: h, file: name)
        guard maxval >= 1, maxval <= 65535 else { throw fail("maxval \(maxval) is outside 1...65535") }
        guard i < b.count, isSpace(b[i]) else { throw fail("truncated header") }
        i += 1  // exactly one whitespace byte before the samples
        let sampleBytes = maxval > 255 ? 2 : 1
        let needed = w * h * channels * sampleBytes
        guard b.count - i >= needed else {
            throw fail("truncated: \(b.count - i) bytes of samples, \(needed) needed for \(w)x\(h)")
        }
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for p in 0..<(w * h) {
            for c in 0..<3 {
                let s = i + (p * channels + (channels == 3 ? c : 0)) * sampleBytes
                let raw = sampleBytes == 2 ? Int(b[s]) << 8 | Int(b[s + 1]) : Int(b[s])
                guard raw <= maxval else { throw fail("sample \(raw) exceeds maxval \(maxval)") }
                pixels[p * 3 + c] = maxval == 255 ? UInt8(raw) : UInt8((raw * 255 + maxval / 2) / maxval)
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}
