// Image to encoder input, exactly as llama.cpp's mtmd does for Gemma 3
// (tools/mtmd/mtmd-image.cpp: mtmd_image_preprocessor_fixed_size, img_tool::resize with
// RESIZE_ALGO_BILINEAR and PAD_CEIL, resize_pillow; clip-impl.h: from_u8, normalize):
//
//   1. scale = min(S / w, S / h) in float; the image is resized to ceil(w * scale) x
//      ceil(h * scale) (each at most S) with Pillow's bilinear filter (a triangle filter widened
//      by the scale when shrinking, so it averages rather than skips, in 22-bit fixed point);
//   2. it is centred on an S x S black canvas (offsets (S - w') / 2, (S - h') / 2, rounded down);
//   3. each byte becomes (b / 255 - mean[c]) / std[c] in float (mean = std = 0.5 gives [-1, 1]).
// An image already S x S is used as it is.

/// Resizing and normalisation for the vision encoder.
public enum ImagePreprocessor {
    /// The S x S RGB image the encoder sees: aspect ratio kept, black bars where needed.
    public static func letterbox(_ image: RGBImage, size s: Int) -> RGBImage {
        precondition(s > 0)
        if image.width == s && image.height == s { return image }
        let scale = min(Float(s) / Float(image.width), Float(s) / Float(image.height))
        let w = min(Int((Float(image.width) * scale).rounded(.up)), s)
        let h = min(Int((Float(image.height) * scale).rounded(.up)), s)
        let resized = resizeBilinear(image, width: max(1, w), height: max(1, h))
        var canvas = [UInt8](repeating: 0, count: s * s * 3)
        let ox = (s - resized.width) / 2, oy = (s - resized.height) / 2
        for y in 0..<resized.height {
            let src = y * resized.width * 3
            let dst = ((y + oy) * s + ox) * 3
            canvas[dst..<(dst + resized.width * 3)] = resized.pixels[src..<(src + resized.width * 3)]
        }
        return RGBImage(width: s, height: s, pixels: canvas)
    }

    /// Writes the normalised floats of `image` (interleaved RGB) into `out` (width * height * 3).
    public static func normalize(_ image: RGBImage, mean: [Float], std: [Float], into out: UnsafeMutablePointer<Float>) {
        precondition(mean.count >= 3 && std.count >= 3)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<(image.width * image.height) {
                for c in 0..<3 {
                    out[i * 3 + c] = (Float(p[i * 3 + c]) / 255 - mean[c]) / std[c]
                }
            }
        }
    }

    /// Pillow's bilinear resampling (Resample.c), as llama.cpp's resize_pillow ports it:
    /// separable, horizontal pass first, weights normalised per output pixel and rounded to 22-bit
    /// fixed point, results rounded and clamped to 0...255.
    public static func resizeBilinear(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        precondition(width > 0 && height > 0)
        var pixels = image.pixels
        var w = image.width
        if width != image.width {
            let (bounds, weights, ksize) = coefficients(inSize: image.width, outSize: width)
            pixels = resampleHorizontal(pixels, inWidth: image.width, height: image.height, outWidth: width,
                                        bounds: bounds, weights: weights, ksize: ksize)
            w = width
        }
        if height != image.height {
            let (bounds, weights, ksize) = coefficients(inSize: image.height, outSize: height)
            pixels = resampleVertical(pixels, width: w, outHeight: height, bounds: bounds, weights: weights, ksize: ksize)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    static let precisionBits: Int32 = 32 - 8 - 2

    /// Per output pixel: the first input pixel and how many contribute, and their fixed-point
    /// weights (ksize per output pixel).
    static func coefficients(inSize: Int, outSize: Int) -> (bounds: [Int], weights: [Int32], ksize: Int) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(1.0, scale)
        let support = 1.0 * filterScale  // bilinear support is 1
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var pre = [Double](repeating: 0, count: ksize)
        let fixed = Double(1 << Int(precisionBits))
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            // C casts truncate toward zero.
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5)) - xmin
            var total = 0.0
            for x in 0..<ksize { pre[x] = 0 }
            for x in 0..<max(0, xmax) {
                let d = abs((Double(x + xmin) - center + 0.5) * ss)
                let wgt = d < 1 ? 1 - d : 0
                pre[x] = wgt
                total += wgt
            }
            for x in 0..<ksize {
                if x < xmax, total != 0 { pre[x] /= total }
                let r = pre[x] * fixed + (pre[x] < 0 ? -0.5 : 0.5)
                weights[xx * ksize + x] = Int32(r.rounded(.towardZero))
            }
            bounds[2 * xx] = xmin
            bounds[2 * xx + 1] = max(0, xmax)
        }
        return (bounds, weights, ksize)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 {
        let s = v >> precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt8(s))
    }

    static func resampleHorizontal(_ src: [UInt8], inWidth: Int, height: Int, outWidth: Int,
                                   bounds: [Int], weights: [Int32], ksize: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outWidth * height * 3)
        let half: Int32 = 1 << (precisionBits - 1)
        for y in 0..<height {
            let row = y * inWidth * 3
            for xx in 0..<outWidth {
                let xmin = bounds[2 * xx], count = bounds[2 * xx + 1]
                var s0 = half, s1 = half, s2 = half
                for x in 0..<count {
                    let k = weights[xx * ksize + x], p = row + (xmin + x) * 3
                    s0 &+= Int32(src[p]) &* k
                    s1 &+= Int32(src[p + 1]) &* k
                    s2 &+= Int32(src[p + 2]) &* k
                }
                let o = (y * outWidth + xx) * 3
                out[o] = clip8(s0)
                out[o + 1] = clip8(s1)
                out[o + 2] = clip8(s2)
            }
        }
        return out
    }

    static func resampleVertical(_ src: [UInt8], width: Int, outHeight: Int,
                                 bounds: [Int], weights: [Int32], ksize: Int) -> [UInt8] {
        let rowElements = width * 3
        var out = [UInt8](repeating: 0, count: rowElements * outHeight)
        var acc = [Int32](repeating: 0, count: rowElements)
        let half: Int32 = 1 << (precisionBits - 1)
        for yy in 0..<outHeight {
            let ymin = bounds[2 * yy], count = bounds[2 * yy + 1]
            for i in 0..<rowElements { acc[i] = half }
            for y in 0..<count {
                let k = weights[yy * ksize + y], row = (ymin + y) * rowElements
                for i in 0..<rowElements { acc[i] &+= Int32(src[row + i]) &* k }
            }
            for i in 0..<rowElements { out[yy * rowElements + i] = clip8(acc[i]) }
        }
        return out
    }
}
