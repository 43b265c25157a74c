import CPNG
import Foundation

/// An 8-bit RGBA colour.
public struct RGBA: Sendable, Equatable {
    public var r, g, b, a: UInt8
    /// A colour; `a` below 255 blends over what is drawn beneath.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8, _ a: UInt8 = 255) {
        self.r = r; self.g = g; self.b = b; self.a = a
    }
    public static let white = RGBA(255, 255, 255), black = RGBA(0, 0, 0)
    public static let grid = RGBA(225, 225, 225), axis = RGBA(90, 90, 90)
}

/// A small raster canvas: rectangles, lines and a 5x7 bitmap font, enough for charts.
public final class Canvas {
    public let width: Int
    public let height: Int
    /// Rows of RGBA8, packed.
    public private(set) var pixels: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: RGBA = .white) {
        precondition(width > 0 && height > 0)
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 4)
        fillRect(x: 0, y: 0, width: width, height: height, background)
    }

    /// Sets (or blends) one pixel; points outside the canvas are ignored.
    @inline(__always) public func set(_ x: Int, _ y: Int, _ c: RGBA) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 4
        if c.a == 255 {
            pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b; pixels[i + 3] = 255
        } else {
            // Blend over what is there.
            let a = Int(c.a), ia = 255 - a
            pixels[i] = UInt8((Int(c.r) * a + Int(pixels[i]) * ia) / 255)
            pixels[i + 1] = UInt8((Int(c.g) * a + Int(pixels[i + 1]) * ia) / 255)
            pixels[i + 2] = UInt8((Int(c.b) * a + Int(pixels[i + 2]) * ia) / 255)
            pixels[i + 3] = 255
        }
    }

    /// The colour at a point (inside the canvas).
    public func pixel(_ x: Int, _ y: Int) -> RGBA {
        let i = (y * width + x) * 4
        return RGBA(pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3])
    }

    /// Fills a rectangle, clipped to the canvas.
    public func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGBA) {
        let x0 = max(0, x), y0 = max(0, y), x1 = min(width, x + w), y1 = min(height, y + h)
        guard x1 > x0, y1 > y0 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { set(xx, yy, c) } }
    }

    /// A rectangle's outline.
    public func strokeRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGBA) {
        fillRect(x: x, y: y, width: w, height: 1, c)
        fillRect(x: x, y: y + h - 1, width: w, height: 1, c)
        fillRect(x: x, y: y, width: 1, height: h, c)
        fillRect(x: x + w - 1, y: y, width: 1, height: h, c)
    }

    /// A line (Bresenham), `thickness` pixels wide.
    public func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: RGBA, thickness: Int = 1) {
        // Bound the work for wild coordinates.
        let lim = 4 * max(width, height)
        guard abs(x0) < lim, abs(x1) < lim, abs(y0) < lim, abs(y1) < lim else { return }
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let r = (thickness - 1) / 2
        while true {
            if thickness <= 1 { set(x, y, c) } else { fillRect(x: x - r, y: y - r, width: thickness, height: thickness, c) }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Draws text in the 5x7 font (lower case drawn as upper case), `scale` pixels per dot.
    /// Returns the width drawn.
    @discardableResult
    public func text(_ s: String, x: Int, y: Int, _ c: RGBA, scale: Int = 1) -> Int {
        var cx = x
        for ch in s.uppercased() {
            let rows = BitmapFont.glyph(ch)
            for (ry, bits) in rows.enumerated() {
                for bx in 0..<5 where bits & (0x10 >> bx) != 0 {
                    fillRect(x: cx + bx * scale, y: y + ry * scale, width: scale, height: scale, c)
                }
            }
            cx += 6 * scale
        }
        return cx - x
    }

    /// The width `text` would take.
    public static func textWidth(_ s: String, scale: Int = 1) -> Int { s.count * 6 * scale }

    /// PNG bytes of the canvas.
    public func png() throws -> Data { try PNG.encode(rgba: pixels, width: width, height: height) }
}

/// 5x7 dots per character, one byte per row, bit 4 the leftmost dot.
enum BitmapFont {
    static let glyphs: [Character: [UInt8]] = [
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        "A": [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        "-": [0, 0, 0, 0x1F, 0, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0], ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03], "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        "=": [0, 0, 0x1F, 0, 0x1F, 0, 0], "_": [0, 0, 0, 0, 0, 0, 0x1F], "<": [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        ">": [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08], "°": [0x0C, 0x12, 0x12, 0x0C, 0, 0, 0],
        "#": [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A], "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
        "!": [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04], "'": [0x04, 0x04, 0x08, 0, 0, 0, 0],
    ]

    static func glyph(_ c: Character) -> [UInt8] { glyphs[c] ?? glyphs["?"]! }
}

/// PNG encoding and decoding of RGBA8 buffers through libpng (the CPNG shim).
public enum PNG {
    /// Encodes packed RGBA8 rows.
    public static func encode(rgba: [UInt8], width: Int, height: Int) throws -> Data {
        guard width > 0, height > 0, rgba.count == width * height * 4 else {
            throw ProfilerError.io("png: \(rgba.count) bytes do not make a \(width)x\(height) RGBA image")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var err = [CChar](repeating: 0, count: 256)
        let rc = rgba.withUnsafeBufferPointer { p in
            cpng_encode_rgba8(p.baseAddress, UInt32(width), UInt32(height), width * 4, &out, &size, &err, err.count)
        }
        guard rc == 0, let out else { throw ProfilerError.io(String(cString: err)) }
        defer { cpng_free(out) }
        return Data(bytes: out, count: size)
    }

    /// Decodes PNG bytes to packed RGBA8 (refusing more than `maxPixels`), through the project's
    /// one PNG decoder (CPNGDecode.h): the header first, so nothing is allocated for a refused image.
    public static func decode(_ data: Data, maxPixels: Int = 64 << 20) throws -> (width: Int, height: Int, rgba: [UInt8]) {
        var err = [CChar](repeating: 0, count: 256)
        return try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress
            let side = UInt32(clamping: max(1, maxPixels))
            var info = cpngd_info()
            guard cpngd_read_info(bytes, raw.count, side, side, &info, &err, err.count) == 0 else {
                throw ProfilerError.io("png decode: " + String(cString: err))
            }
            let (w, h) = (Int(info.width), Int(info.height))
            guard w > 0, h > 0, w.multipliedReportingOverflow(by: h).partialValue <= maxPixels, w <= maxPixels / h else {
                throw ProfilerError.io("png decode: \(w)x\(h) exceeds the limit of \(maxPixels) pixels")
            }
            var rgba = [UInt8](repeating: 0, count: w * h * 4)
            let rc = rgba.withUnsafeMutableBufferPointer {
                cpngd_decode_rgba8(bytes, raw.count, info.width, info.height, $0.baseAddress, &err, err.count)
            }
            guard rc == 0 else { throw ProfilerError.io("png decode: " + String(cString: err)) }
            return (w, h, rgba)
        }
    }
}
