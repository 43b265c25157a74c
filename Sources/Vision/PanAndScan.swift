// Pan & Scan: extra crops for images far from square, so a wide receipt or a tall form is not
// squeezed into one 896 x 896 view. The crop choice is the reference processor's
// (transformers' Gemma3ImageProcessor.pan_and_scan, with its defaults); llama.cpp has no Pan & Scan,
// so there is no golden output from it for this step.

/// How Pan & Scan splits an image.
public struct PanAndScan: Sendable, Equatable {
    /// Smallest crop side in pixels.
    public var minCropSize: Int = 256
    /// Most crops per image.
    public var maxCrops: Int = 4
    /// The long side must be at least this many times the short side.
    public var minRatioToActivate: Double = 1.2

    public init() {}

    /// The crop rectangles (x, y, width, height) of an image of this size, left to right then top
    /// to bottom; empty when the image is close enough to square or the crops would be too small.
    public func crops(width: Int, height: Int) -> [(x: Int, y: Int, width: Int, height: Int)] {
        guard width > 0, height > 0, maxCrops >= 2 else { return [] }
        var cropsW = 1, cropsH = 1
        if width >= height {
            // Landscape (or square): crops side by side.
            guard Double(width) / Double(height) >= minRatioToActivate else { return [] }
            var n = Int((Double(width) / Double(height) + 0.5).rounded(.down))  // half rounds up
            n = min(width / max(1, minCropSize), n)
            cropsW = min(maxCrops, max(2, n))
        } else {
            guard Double(height) / Double(width) >= minRatioToActivate else { return [] }
            var n = Int((Double(height) / Double(width) + 0.5).rounded(.down))
            n = min(height / max(1, minCropSize), n)
            cropsH = min(maxCrops, max(2, n))
        }
        let cropW = (width + cropsW - 1) / cropsW, cropH = (height + cropsH - 1) / cropsH
        guard min(cropW, cropH) >= minCropSize else { return [] }
        var out: [(x: Int, y: Int, width: Int, height: Int)] = []
        for row in 0..<cropsH {
            for col in 0..<cropsW {
                // The last crop is cut at the image edge, as numpy slicing does.
                let x = col * cropW, y = row * cropH
                out.append((x, y, min(cropW, width - x), min(cropH, height - y)))
            }
        }
        return out
    }

    /// The crops of `image` (see `crops(width:height:)`).
    public func apply(_ image: RGBImage) -> [RGBImage] {
        crops(width: image.width, height: image.height).map {
            image.cropped(x: $0.x, y: $0.y, width: $0.width, height: $0.height)
        }
    }
}
