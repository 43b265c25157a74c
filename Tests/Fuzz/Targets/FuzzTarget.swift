import Foundation

/// A property a fuzz target checks that did not hold: the input is a finding even though no
/// sanitizer fired. The libFuzzer driver stops on it; the regression tests fail on it.
public struct FuzzFinding: Error, CustomStringConvertible {
    public let target: FuzzTarget
    public let message: String
    public var description: String { "\(target.rawValue): \(message)" }
}

/// Every fuzz target: one parser of untrusted bytes each, with the properties checked on what it
/// returns. `run` is the single entry point used by the libFuzzer driver (`gemma-edge-fuzz`) and
/// by the regression tests that replay committed findings.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `GGUFFile(mapping:)` over the bytes, then the consumers of its metadata and tensors.
    case gguf
    /// The BPE tokenizer and streaming decoder on arbitrary text, and `SentencePieceModel.parse`.
    case tokenizer
    /// CPNG's decoder in both outputs (`cpngd_decode_rgba8` and `cpngd_decode_rgb8`), PPM/PGM, and the vision resize.
    case png
    /// The OpenAI request decoder and its range checks (chat and text completions).
    case request
    /// The session snapshot reader (`KVCache.restoreSnapshot(bytes:...)`) of a tiny model.
    case snapshot
    /// The profiler's sensor-file parsers (sysfs integers and fields, RAPL counters, rails,
    /// `vcgencmd pmic_read_adc`, `/proc/self/status`).
    case sensors
    /// The GBNF grammar compiler and the JSON Schema converter (Grammar), with a matcher and
    /// token masks over what compiled.
    case grammar

    /// Builds whatever the target needs once (a vocabulary, a cache), so the first input is not
    /// slower than the others.
    public func prepare() {
        switch self {
        case .tokenizer: _ = TokenizerFuzz.shared
        case .request: _ = RequestFuzz.shared
        case .snapshot: _ = SnapshotFuzz.shared
        case .grammar: _ = GrammarFuzz.vocabulary
        case .gguf, .png, .sensors: break
        }
    }

    /// Feeds one input to the target and tells whether the parser accepted it. Parse errors are
    /// expected (the result is false); a violated property throws `FuzzFinding`; memory errors
    /// are the sanitizers' to report.
    @discardableResult
    public func run(_ data: [UInt8]) throws -> Bool {
        switch self {
        case .gguf: return try GGUFFuzz.run(data)
        case .tokenizer: return try TokenizerFuzz.shared.run(data)
        case .png: return try PNGFuzz.run(data)
        case .request: return try RequestFuzz.shared.run(data)
        case .snapshot: return try SnapshotFuzz.shared.run(data)
        case .sensors: return try SensorFuzz.run(data)
        case .grammar: return try GrammarFuzz.run(data)
        }
    }

    /// Replays a file (a committed regression input or a corpus entry); see `run(_:)`.
    @discardableResult
    public func run(file path: String) throws -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FuzzFinding(target: self, message: "cannot read \(path)")
        }
        return try run([UInt8](data))
    }

    /// The committed inputs of this target: its seeds (Tests/Fuzz/corpus/<target>) and the
    /// minimised inputs of findings (Tests/Fuzz/regressions/<target>), as sorted paths.
    public var committedInputs: (seeds: [String], regressions: [String]) {
        let fuzz = URL(fileURLWithPath: "\(#filePath)").deletingLastPathComponent().deletingLastPathComponent()
        func files(_ folder: String) -> [String] {
            let dir = fuzz.appendingPathComponent(folder).appendingPathComponent(rawValue).path
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.sorted().map { dir + "/" + $0 }
        }
        return (files("corpus"), files("regressions"))
    }

    /// Runs every committed input through the target and returns whether each was accepted, by
    /// file name (regressions as "regressions/<name>"). Throws the first finding.
    public func replayCommittedInputs() throws -> [String: Bool] {
        prepare()
        let inputs = committedInputs
        var accepted: [String: Bool] = [:]
        for path in inputs.seeds { accepted[(path as NSString).lastPathComponent] = try run(file: path) }
        for path in inputs.regressions { accepted["regressions/" + (path as NSString).lastPathComponent] = try run(file: path) }
        return accepted
    }

    func finding(_ message: String) -> FuzzFinding { FuzzFinding(target: self, message: message) }
}
