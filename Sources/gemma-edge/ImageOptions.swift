import ArgumentParser
import Foundation
import GemmaEdge
import Sampling
import Tokenizer
import Vision

/// Image input for `generate`: the Gemma 3 4B vision projector and the images of the prompt.
/// The projector is only opened when an image is given.
struct ImageOptions: ParsableArguments {
    @Option(help: "Vision projector GGUF paired with the text model (llama.cpp's mmproj for Gemma 3 4B); needed with --image.")
    var mmproj: String?

    @Option(name: .customLong("image"),
            help: "A PNG or binary PPM/PGM image; repeat for several. Each goes where the prompt has <__media__> (in order), or before the text when it has none.")
    var images: [String] = []

    @Flag(help: "Pan & Scan: also encode crops of images far from square, each as its own soft tokens.")
    var panAndScan = false

    @Option(help: "Colour transparent pixels are composited over, as R,G,B.")
    var imageBackground: String = "255,255,255"

    @Option(help: ArgumentHelp("Time the encoder: encode the first image this many times (after one warm-up), print the median and minimum to stderr and exit.", visibility: .hidden))
    var imageBenchRuns: Int = 0

    /// Whether this run takes the image path.
    var active: Bool { !images.isEmpty }

    func validate() throws {
        if !images.isEmpty && mmproj == nil { throw ValidationError("--image needs --mmproj (the model's vision projector)") }
        _ = try background()
    }

    func background() throws -> (UInt8, UInt8, UInt8) {
        let parts = imageBackground.split(separator: ",").map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, let r = parts[0], let g = parts[1], let b = parts[2] else {
            throw ValidationError("--image-background must be R,G,B with each 0...255, e.g. 255,255,255")
        }
        return (r, g, b)
    }

    /// Times the encoder on one preprocessed view (as llama.cpp's mtmd_encode_chunk is timed).
    func bench(_ vision: VisionModel, _ image: RGBImage, engine: Engine) {
        var out = [Float](repeating: 0, count: vision.tokensPerImage * vision.textWidth)
        var ms: [Double] = []
        for run in 0...imageBenchRuns {
            out.withUnsafeMutableBufferPointer { vision.encode(image, into: $0.baseAddress!) }
            if run > 0 { ms.append(vision.encoder.lastSeconds * 1000) }
        }
        ms.sort()
        FileHandle.standardError.write(Data(String(
            format: "vision-bench: encoder median %.3f ms, min %.3f ms over %d runs, %d soft tokens, %d threads, kernels %@\n",
            ms[ms.count / 2], ms[0], ms.count, vision.tokensPerImage, engine.options.threads,
            engine.model.compute.kernels.name).utf8))
    }

    /// `generate` with images: loads the projector, decodes the images, evaluates the prompt with
    /// them in place, then streams or prints the generated text as `generate` does.
    func run(_ g: Generate) throws {
        guard let mmproj else { throw ValidationError("--image needs --mmproj") }
        guard g.session == nil else { throw CLIError("--session cannot be combined with --image yet") }
        guard FileManager.default.fileExists(atPath: mmproj) else { throw CLIError("projector file not found: \(mmproj)") }
        let params = try g.sampling.parameters()
        // An image's soft tokens are one bidirectional batch: the prompt batch must hold them.
        var model = g.model
        model.batch = max(model.batch, try VisionModel.config(path: mmproj).tokensPerImage)
        let engine = try model.load()
        let vision = try engine.loadVision(path: mmproj)
        vision.limits.background = try background()
        if panAndScan { vision.panAndScan = PanAndScan() }
        let pictures = try images.map { try vision.load(path: $0) }
        if imageBenchRuns > 0 { return bench(vision, pictures[0], engine: engine) }
        let prompt = try MultimodalPrompt(text: g.prompt, images: pictures)
        let session = try engine.makeMultimodalSession(vision: vision)
        let sampler = Sampler(parameters: params, vocabularySize: engine.config.vocabularySize)

        let t0 = monotonicSeconds()
        let positions = try session.append(prompt, chatTemplate: g.chatTemplate)
        let t1 = monotonicSeconds()
        var generated: [Int32] = []
        generated.reserveCapacity(g.maxTokens)
        let tok = engine.tokenizer
        var decoder = StreamingDecoder(vocabulary: tok.vocabulary)
        var text = ""
        if g.maxTokens > 0 {
            try session.generate(maxTokens: g.maxTokens, sampler: sampler, stopTokens: engine.stopTokens) { id in
                generated.append(id)
                let piece = decoder.append(id)
                if g.json { text += piece } else if !piece.isEmpty { emit(piece) }
                return true
            }
        }
        let tail = decoder.flush()
        let t2 = monotonicSeconds()
        if g.json {
            try printJSON(["tokens": generated.map(Int.init), "text": text + tail, "prompt_tokens": positions,
                           "images": pictures.count, "image_views": session.encodedViews])
        } else {
            emit(tail + "\n")
        }
        if g.verbose {
            let decoded = max(0, generated.count - 1)
            FileHandle.standardError.write(Data(String(
                format: "load %.2f s, kernels %@, threads %d; %d images (%d views) encoded in %.2f s; prompt %d positions in %.2f s; %d tokens in %.2f s (%.1f tok/s)\n",
                engine.loadSeconds, engine.model.compute.kernels.name, engine.options.threads, pictures.count,
                session.encodedViews, session.encodeSeconds, positions, t1 - t0, decoded, t2 - t1,
                decoded > 0 ? Double(decoded) / (t2 - t1) : 0).utf8))
        }
    }
}
