import Foundation
import Gemma3
import GGUF
import Kernels
import Profiler
import TestSupport
import Tokenizer

/// The seed corpora, made by the project's own writers (GGUFWriter and TinyGemma, the snapshot
/// writer, the PNG encoder, the SentencePiece model writer) plus hand-written edge cases.
/// `gemma-edge-fuzz seeds DIR` writes them to DIR/<target>/; they are committed under
/// Tests/Fuzz/corpus.
public enum FuzzSeeds {
    /// Seeds by name for one target.
    public static func seeds(for target: FuzzTarget) throws -> [(name: String, bytes: [UInt8])] {
        switch target {
        case .gguf: return ggufSeeds()
        case .tokenizer: return try tokenizerSeeds()
        case .png: return try pngSeeds()
        case .request: return requestSeeds()
        case .snapshot: return try snapshotSeeds()
        case .sensors: return sensorSeeds()
        case .grammar: return grammarSeeds()
        }
    }

    /// Writes every target's seeds under `directory`, replacing files of the same name.
    public static func write(to directory: String) throws {
        for target in FuzzTarget.allCases {
            let dir = directory + "/" + target.rawValue
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for seed in try seeds(for: target) {
                try Data(seed.bytes).write(to: URL(fileURLWithPath: dir + "/" + seed.name))
            }
        }
    }

    static func grammarSeeds() -> [(name: String, bytes: [UInt8])] {
        text([
            ("arithmetic.gbnf", "root ::= (expr \"=\" term \"\\n\")+\nexpr ::= term ([-+*/] term)*\nterm ::= [0-9]+ | \"(\" expr \")\"\n"),
            ("classes.gbnf", "root ::= [^\"\\\\\\x00-\\x1F] [a-zα-ω日]{2,3} . \"\\u00e9\"? # comment\n"),
            ("left.gbnf", "root ::= x root | \"a\"\nx ::= \"\" | \"b\"\n"),
            ("schema.json", #"{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":120},"b":{"enum":["x",1,null]},"c":{"type":"array","items":{"type":"string","format":"date"},"maxItems":3},"d":{"type":"string","pattern":"^[A-Z]{2}-\\d+$"}},"required":["a"],"additionalProperties":false}"#),
            ("refs.json", ##"{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}"##),
        ])
    }

    static func text(_ pairs: [(String, String)]) -> [(name: String, bytes: [UInt8])] {
        pairs.map { ($0.0, Array($0.1.utf8)) }
    }

    // MARK: GGUF

    static func ggufSeeds() -> [(name: String, bytes: [UInt8])] {
        var tiny = TinyGemma()
        tiny.blocks = 1
        tiny.embedding = 32
        tiny.feedForward = 32
        tiny.heads = 1
        tiny.kvHeads = 1
        tiny.headDim = 32
        var out: [(String, [UInt8])] = [("tiny-gemma3.gguf", tiny.serialize())]

        // Every metadata value type, and arrays of each element type.
        var w = GGUFWriter()
        w.set("general.architecture", .string("gemma3"))
        w.set("general.alignment", .uint32(64))
        w.set("t.u8", .uint8(200)); w.set("t.i8", .int8(-3)); w.set("t.u16", .uint16(60000)); w.set("t.i16", .int16(-300))
        w.set("t.u32", .uint32(7)); w.set("t.i32", .int32(-7)); w.set("t.u64", .uint64(1 << 40)); w.set("t.i64", .int64(-1))
        w.set("t.f32", .float32(0.5)); w.set("t.f64", .float64(-2.25)); w.set("t.bool", .bool(true)); w.set("t.str", .string("é"))
        w.set("t.strings", .array(.strings(["a", "", "▁b"])))
        w.set("t.f32s", .array(.float32([1, -1]))); w.set("t.i32s", .array(.int32([1, -1])))
        w.set("t.u32s", .array(.uint32([1, 2]))); w.set("t.i64s", .array(.int64([-5])))
        w.set("t.u64s", .array(.uint64([5]))); w.set("t.u8s", .array(.uint8([1, 2, 3])))
        w.set("t.i8s", .array(.int8([-1]))); w.set("t.bools", .array(.bool([true, false])))
        w.alignment = 64
        out.append(("all-types.gguf", w.serialize()))

        // One small tensor of every type the reader accepts.
        var t = GGUFWriter()
        t.set("general.architecture", .string("gemma3"))
        for type in TensorType.allCases {
            let n = type.blockElements == 1 ? 4 : type.blockElements
            t.addTensor(name: "t.\(type)", dimensions: [n, 2], type: type,
                        data: [UInt8](repeating: 0x3C, count: type.rowBytes(n)! * 2))
        }
        out.append(("tensor-types.gguf", t.serialize()))

        // The header alone, and a file whose tensor table promises more than it holds.
        out.append(("empty-v3.gguf", Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16)))
        var truncated = t.serialize()
        truncated.removeLast(truncated.count / 3)
        out.append(("truncated.gguf", truncated))
        return out
    }

    // MARK: Tokenizer

    static func tokenizerSeeds() throws -> [(name: String, bytes: [UInt8])] {
        var out = text([
            ("hello.txt", "hello world"),
            ("chat.txt", "<start_of_turn>user\nHi there!<end_of_turn>\n<start_of_turn>model\n"),
            ("html.txt", "<b>bold</b> and </s> and <eos> typed by a user"),
            ("spaces.txt", "a    b\t\tc\n\n\nd   "),
            ("unicode.txt", "é ü ß 中文 日本語 😀👍🏽 \u{2581}x ▁▁"),
            ("code.txt", "func f(x: Int) -> Int {\n    return x * 2 // double\n}\n"),
            ("digits.txt", "3.14159 2026-11-23 0x1F 1,000,000"),
        ])
        out.append(("invalid-utf8.bin", [0x61, 0xC3, 0x28, 0xE2, 0x96, 0xF0, 0x9F, 0x98, 0xFF, 0x80, 0x20, 0x62]))
        out.append(("ids.bin", [2, 0, 0, 0, 5, 1, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128]))
        out.append(("tiny.model", try SentencePieceModel.serialize(TokenizerFuzz.tinyVocabulary())))
        return out
    }

    // MARK: Images

    static func pngSeeds() throws -> [(name: String, bytes: [UInt8])] {
        func png(_ w: Int, _ h: Int, _ pixel: (Int, Int) -> [UInt8]) throws -> [UInt8] {
            var rgba: [UInt8] = []
            for y in 0..<h { for x in 0..<w { rgba += pixel(x, y) } }
            return [UInt8](try PNG.encode(rgba: rgba, width: w, height: h))
        }
        var out: [(String, [UInt8])] = [
            ("one-pixel.png", try png(1, 1) { _, _ in [255, 0, 0, 255] }),
            ("alpha.png", try png(3, 2) { x, y in [UInt8(x * 80), UInt8(y * 120), 7, UInt8(x * 100)] }),
            ("gradient.png", try png(17, 5) { x, y in [UInt8(x * 15), UInt8(y * 50), UInt8((x + y) * 9), 255] }),
            ("solid.png", try png(9, 4) { _, _ in [40, 50, 60, 255] }),
            ("p6.ppm", Array("P6\n# c\n2 2\n255\n".utf8) + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            ("p5-16bit.pgm", Array("P5 2 1 65535\n".utf8) + [0xFF, 0xFF, 0x00, 0x01]),
        ]
        // The decoder tests' fixtures cover every colour type, depth and interlacing.
        let images = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/vision/images").path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: images))?.sorted() ?? [] where name.hasSuffix(".png") {
            if let data = FileManager.default.contents(atPath: images + "/" + name), data.count <= 2048 {
                out.append(("fixture-" + name, [UInt8](data)))
            }
        }
        return out
    }

    // MARK: Requests

    static func requestSeeds() -> [(name: String, bytes: [UInt8])] {
        text([
            ("chat.json", #"{"model":"gemma","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":16,"temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":42,"stop":["\n\n"],"stream":true,"stream_options":{"include_usage":true}}"#),
            ("chat-parts.json", #"{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":null},{"role":"user","content":"c"}],"max_completion_tokens":4,"repetition_penalty":1.1,"frequency_penalty":0,"presence_penalty":0,"n":1,"logprobs":false,"ignore_eos":true,"response_format":{"type":"text"},"tools":[]}"#),
            ("chat-tools.json", #"{"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"w","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"4 C"}],"tools":[{"type":"function","function":{"name":"w","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto"}"#),
            ("chat-schema.json", #"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object","properties":{"a":{"type":"integer","minimum":0}},"required":["a"],"additionalProperties":false}}}}"#),
            ("completion-grammar.json", #"{"prompt":"x","grammar":"root ::= [a-z]+"}"#),
            ("completion.json", #"{"prompt":"Once upon a time","max_tokens":8,"echo":false,"suffix":"","best_of":1,"stop":"."}"#),
            ("completion-ids.json", #"{"prompt":[2,651,1000],"temperature":0}"#),
            ("bad-types.json", #"{"messages":[{"role":"tool","content":{"x":1}}],"max_tokens":1.5,"top_k":-1,"seed":1e300}"#),
            ("unicode.json", #"{"messages":[{"role":"user","content":"\u00e9\ud83d\ude00 \"quoted\" \\ \/"}]}"#),
        ])
    }

    // MARK: Snapshots

    static func snapshotSeeds() throws -> [(name: String, bytes: [UInt8])] {
        // Real KV state: the tiny model evaluates the tokens into the cache, then the cache saves.
        let fuzz = try SnapshotFuzz()
        let model = try Gemma3Model(file: fuzz.file, compute: try Compute(threads: 1))
        let state = model.makeRunState(maxBatch: 16, maxContext: 16)
        var out: [(String, [UInt8])] = []
        let dir = NSTemporaryDirectory() + "gemma-edge-fuzz-seeds-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for length in [0, 3, 16] {
            fuzz.cache.reset()
            let tokens = (0..<length).map { Int32(($0 * 7 + 2) % model.config.vocabularySize) }
            if length > 0 { try tokens.withUnsafeBufferPointer { try model.evaluate($0, cache: fuzz.cache, state: state) } }
            let logits = (0..<SnapshotFuzz.logitCount).map { Float($0) - 2.5 }
            let path = dir + "/s\(length)"
            try logits.withUnsafeBufferPointer {
                try fuzz.cache.saveSnapshot(to: path, tokens: tokens, logits: $0, model: SnapshotFuzz.model)
            }
            out.append(("tokens-\(length).snapshot", [UInt8](FileManager.default.contents(atPath: path) ?? Data())))
        }
        return out
    }

    // MARK: Sensors

    static func sensorSeeds() -> [(name: String, bytes: [UInt8])] {
        text([
            ("microwatts.txt", "2500000\n"),
            ("throttled.txt", "0x50005\n"),
            ("negative.txt", "-1234\n"),
            ("statm.txt", "123456 7890 1234 56 0 7890 0\n"),
            ("rapl.txt", "262143328850\n1000\n5000\n262143328000\n200\n"),
            ("rails.txt", "5100\n1200\n12000\n-300\n"),
            ("pmic.txt", """
                 3V7_WL_SW_A current(0)=0.10000000A
                  VDD_CORE_A current(7)=2.00000000A
                 3V7_WL_SW_V volt(8)=3.70000000V
                  VDD_CORE_V volt(15)=0.80000000V
                       EXT5V_V volt(24)=5.10000000V
                """),
            ("status.txt", "Name:\tgemma-edge\nVmPeak:\t  123456 kB\nVmHWM:\t   65432 kB\nVmRSS:\t   60000 kB\n"),
        ])
    }
}
