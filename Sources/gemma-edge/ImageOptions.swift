import ArgumentParser
import Foundation
import GemmaEdge
import Vision

/// The vision projector and how images are read, shared by `generate`, `chat` and `serve`. The
/// projector is checked at load but its weights are read only when the first image comes.
struct VisionOptions: ParsableArguments {
    @Option(help: "Vision projector GGUF paired with the text model (llama.cpp's mmproj for Gemma 3 4B); needed for images. Its weights are read at the first image.")
    var mmproj: String?

    @Flag(help: "Pan & Scan: also encode crops of images far from square, each as its own soft tokens.")
    var panAndScan = false

    @Option(help: "Colour transparent pixels are composited over, as R,G,B.")
    var imageBackground: String = "255,255,255"

    func validate() throws {
        _ = try background()
        if let mmproj, !FileManager.default.fileExists(atPath: mmproj) {
            throw ValidationError("projector file not found: \(mmproj)")
        }
    }

    func background() throws -> (UInt8, UInt8, UInt8) {
        let parts = imageBackground.split(separator: ",").map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let r = parts[0], let g = parts[1], let b = parts[2] else {
            throw ValidationError("--image-background must be R,G,B with each 0...255, e.g. 255,255,255")
        }
        return (r, g, b)
    }

    /// `options` with the projector and how it reads images set.
    func apply(to options: EngineOptions) throws -> EngineOptions {
        var o = options
        o.mmproj = mmproj
        o.imageLimits.background = try background()
        o.panAndScan = panAndScan ? PanAndScan() : nil
        return o
    }

    /// Loads the engine of `model` with the projector (when given) and speculative decoding.
    func load(_ model: ModelOptions, speculative: SpeculativeOptions) throws -> Engine {
        try model.prepare { o in
            o = try apply(to: o)
            speculative.apply(to: &o)
        }.load()
    }
}

/// Image input for `generate`: the projector and the images of the prompt.
struct ImageOptions: ParsableArguments {
    @OptionGroup var vision: VisionOptions

    @Option(name: .customLong("image"),
            help: "A PNG or binary PPM/PGM image; repeat for several. Each goes where the prompt has <__media__> (in order), or before the text when it has none.")
    var images: [String] = []

    @Option(help: ArgumentHelp("Time the encoder: encode the first image this many times (after one warm-up), print the median and minimum to stderr and exit.", visibility: .hidden))
    var imageBenchRuns: Int = 0

    func validate() throws {
        if !images.isEmpty && vision.mmproj == nil { throw ValidationError("--image needs --mmproj (the model's vision projector)") }
    }

    /// Times the encoder on one preprocessed view (as llama.cpp's mtmd_encode_chunk is timed).
    func bench(_ vision: VisionModel, _ image: RGBImage, engine: Engine) throws {
        var out = [Float](repeating: 0, count: vision.tokensPerImage * vision.textWidth)
        var runs: [(ms: Double, stages: EncoderStages)] = []
        for run in 0...imageBenchRuns {
            try out.withUnsafeMutableBufferPointer { try vision.encode(image, into: $0.baseAddress!) }
            if run > 0 { runs.append((vision.lastEncodeSeconds * 1000, vision.lastEncodeStages)) }
        }
        runs.sort { $0.ms < $1.ms }
        FileHandle.standardError.write(Data(String(
            format: "vision-bench: encoder median %.3f ms, min %.3f ms over %d runs, %d soft tokens, %d threads, kernels %@\n",
            runs[runs.count / 2].ms, runs[0].ms, runs.count, vision.tokensPerImage, engine.options.threads,
            engine.model.compute.kernels.name).utf8))
        FileHandle.standardError.write(Data("vision-stages (median run): \(runs[runs.count / 2].stages)\n".utf8))
    }
}
