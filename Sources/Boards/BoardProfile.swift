import Foundation

/// What GemmaEdge knows about one kind of board: how to recognise it, which cores to use, how
/// fast its memory is, where its power and temperature readings live, its status-LED and button
/// pins, and which model, quant and context suit it. One JSON file per board in
/// `Platforms/boards/` (snake_case keys); see `Platforms/boards/README.md` for the fields.
public struct BoardProfile: Codable, Sendable, Equatable {
    /// File name without `.json`, and the `--board` name ("raspberry-pi-5").
    public var name: String
    /// A name for people ("Raspberry Pi 5").
    public var displayName: String
    /// "aarch64" or "x86_64".
    public var arch: String
    public var match: Match
    public var cpu: CPU
    public var memory: Memory
    public var power: Power
    public var thermal: Thermal
    public var gpio: GPIO
    public var recommended: Recommended
    /// Sentences `doctor` prints under "advice".
    public var advice: [String]

    /// How the board is recognised. Any device-tree hit wins over a CPU-part match.
    public struct Match: Codable, Sendable, Equatable {
        /// Case-insensitive substrings of `/proc/device-tree/model`.
        public var deviceTreeModel: [String]
        /// Exact entries of `/proc/device-tree/compatible`.
        public var compatible: [String]
        /// The exact multiset of `CPU part` numbers; empty for generic profiles.
        public var cpuParts: [PartCount]
    }

    /// A CPU part number and how many cores have it.
    public struct PartCount: Codable, Sendable, Equatable {
        public var part: String
        public var count: Int

        /// `count` cores with CPU part `part`.
        public init(part: String, count: Int) {
            self.part = part
            self.count = count
        }
    }

    /// The CPU: its clusters, the features and kernel path to expect, and the thread policy.
    public struct CPU: Codable, Sendable, Equatable {
        /// The clusters as the board's kernel numbers them (documentation and a fallback when
        /// the running kernel does not tell big from little).
        public var clusters: [Cluster]
        /// Feature names `KernelSet.cpuFeatureNames` reports on this board.
        public var features: [String]
        /// The kernel set those features select (checked when the profile is loaded).
        public var kernelPath: String
        /// "big": compute threads on the big cores only; "all": on every core.
        public var use: String
        /// Pin compute thread i to core i (the caller's thread is limited to the same cores).
        public var pin: Bool
    }

    /// A group of identical cores.
    public struct Cluster: Codable, Sendable, Equatable {
        /// The core's name ("Cortex-A76") and `CPU part` ("0xd0b").
        public var core: String
        public var part: String
        /// The CPU ids of the cluster as the board's kernel numbers them.
        public var cpus: [Int]
        /// "big" or "little".
        public var role: String
    }

    /// Memory sizes sold and bandwidth (decode speed is bytes read per token over bandwidth).
    public struct Memory: Codable, Sendable, Equatable {
        /// The memory sizes the board is sold with, GiB.
        public var sizesGib: [Double]
        /// Theoretical peak as [low, high] GB/s (memory options differ), nil when unpublished.
        public var bandwidthTheoreticalGbs: [Double]?
        /// Measured copy bandwidth as [low, high] GB/s, nil when unmeasured.
        public var bandwidthMeasuredGbs: [Double]?
    }

    /// Power input and where to read power.
    public struct Power: Codable, Sendable, Equatable {
        /// The supply the board wants ("USB-C 5 V / 5 A").
        public var source: String
        /// How power can be measured on this board.
        public var sensor: String
        /// hwmon `name` values worth looking for (`ina3221`, `rpi_volt`).
        public var hwmonNames: [String]
        /// Candidate absolute paths of a firmware throttling word (Raspberry Pi `get_throttled`).
        public var throttledFiles: [String]
    }

    /// Temperature sources and the limit where clocks drop.
    public struct Thermal: Codable, Sendable, Equatable {
        /// `thermal_zone*/type` names to watch, most relevant first.
        public var zones: [String]
        /// Temperature (C) where the firmware or kernel starts to throttle, nil when unknown.
        public var throttleCelsius: Double?
    }

    /// Where the status LED and the button go (lines on a GPIO chip found by its label).
    public struct GPIO: Codable, Sendable, Equatable {
        /// The gpiochip label (`gpiodetect` prints it), nil when the header is board-specific.
        public var chipLabel: String?
        public var statusLed: Pin?
        public var button: Pin?
        public var note: String
    }

    /// One GPIO line and the header pin it is on.
    public struct Pin: Codable, Sendable, Equatable {
        /// The line offset on the chip (what libgpiod takes).
        public var line: Int
        /// The physical pin on the 40-pin header.
        public var headerPin: Int
    }

    /// The model, quant and context that suit the board.
    public struct Recommended: Codable, Sendable, Equatable {
        /// Model name ("gemma-3-1b-it"), GGUF quant ("Q4_K_M") and `--ctx`.
        public var model: String
        public var quant: String
        public var context: Int
    }
}

extension BoardProfile {
    static let knownFeatures: Set<String> = ["avx2", "avx512", "avx512vnni", "neon", "dotprod", "i8mm"]
    /// Quant mixes whose tensor types the kernels run (no Q2_K / Q3_K kernels exist).
    static let knownQuants: Set<String> = [
        "F32", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1",
    ]

    /// Checks the profile's values and their consistency (the kernel path must be the one its
    /// features select, clusters must match the CPU parts). Throws `.badProfile` naming `file`.
    public func validate(file: String) throws {
        func fail(_ m: String) -> BoardsError { .badProfile(file: file, m) }
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        guard name == stem else { throw fail("name '\(name)' differs from the file name '\(stem)'") }
        guard !name.isEmpty, name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" }), name.allSatisfy(\.isASCII) else {
            throw fail("name '\(name)' must be lower-case letters, digits, '-' and '_'")
        }
        guard !displayName.isEmpty else { throw fail("display_name is empty") }
        guard let a = CPUArchitecture(rawValue: arch), a == .aarch64 || a == .x86_64 else {
            throw fail("arch '\(arch)' must be aarch64 or x86_64")
        }
        for p in match.cpuParts {
            guard CPUInfo.hex(p.part) == p.part, p.count >= 1, p.count <= 256 else {
                throw fail("match.cpu_parts entry \(p.part) x \(p.count): parts are lower-case hex like 0xd0b, counts 1...256")
            }
        }
        guard Set(match.cpuParts.map(\.part)).count == match.cpuParts.count else { throw fail("match.cpu_parts repeats a part") }
        guard match.deviceTreeModel.allSatisfy({ !$0.isEmpty }), match.compatible.allSatisfy({ !$0.isEmpty }) else {
            throw fail("match strings must not be empty")
        }
        // CPU.
        guard cpu.features.allSatisfy(Self.knownFeatures.contains) else {
            throw fail("cpu.features \(cpu.features) has names outside \(Self.knownFeatures.sorted())")
        }
        let selected = KernelPath.select(architecture: a, features: cpu.features)
        guard cpu.kernelPath == selected else {
            throw fail("cpu.kernel_path is '\(cpu.kernelPath)' but the features \(cpu.features) select '\(selected)'")
        }
        guard cpu.use == "big" || cpu.use == "all" else { throw fail("cpu.use '\(cpu.use)' must be 'big' or 'all'") }
        var seen = Set<Int>()
        for c in cpu.clusters {
            guard c.role == "big" || c.role == "little" else { throw fail("cluster role '\(c.role)' must be big or little") }
            guard CPUInfo.hex(c.part) == c.part, !c.cpus.isEmpty, c.cpus.allSatisfy({ $0 >= 0 && $0 < 4096 }) else {
                throw fail("cluster \(c.core): needs a hex part and CPU ids 0...4095")
            }
            for id in c.cpus where !seen.insert(id).inserted { throw fail("cpu \(id) is in two clusters") }
        }
        if !cpu.clusters.isEmpty {
            guard cpu.clusters.contains(where: { $0.role == "big" }) else { throw fail("no big cluster") }
            var counts: [String: Int] = [:]
            for c in cpu.clusters { counts[c.part, default: 0] += c.cpus.count }
            let expected = Dictionary(match.cpuParts.map { ($0.part, $0.count) }, uniquingKeysWith: +)
            guard counts == expected else { throw fail("cpu.clusters \(counts) disagree with match.cpu_parts \(expected)") }
        }
        // Memory, power, thermal, GPIO, recommendation.
        guard !memory.sizesGib.isEmpty, memory.sizesGib.allSatisfy({ $0 > 0 && $0 <= 4096 }) else {
            throw fail("memory.sizes_gib must list sizes in (0, 4096]")
        }
        for (key, range) in [("theoretical", memory.bandwidthTheoreticalGbs), ("measured", memory.bandwidthMeasuredGbs)] {
            guard let r = range else { continue }
            guard r.count == 2, r[0] > 0, r[0] <= r[1], r[1] < 10_000 else {
                throw fail("memory.bandwidth_\(key)_gbs must be [low, high] GB/s with 0 < low <= high")
            }
        }
        if let t = memory.bandwidthTheoreticalGbs, let m = memory.bandwidthMeasuredGbs, m[1] > t[1] {
            throw fail("measured bandwidth \(m[1]) GB/s exceeds the theoretical \(t[1]) GB/s")
        }
        guard !power.source.isEmpty, !power.sensor.isEmpty else { throw fail("power.source and power.sensor must be set") }
        guard power.throttledFiles.allSatisfy({ $0.hasPrefix("/sys/") }) else { throw fail("power.throttled_files must be absolute /sys paths") }
        guard thermal.zones.allSatisfy({ !$0.isEmpty }) else { throw fail("thermal.zones has an empty name") }
        if let c = thermal.throttleCelsius, !(c > 30 && c < 150) { throw fail("thermal.throttle_celsius \(c) is out of range") }
        for (what, pin) in [("status_led", gpio.statusLed), ("button", gpio.button)] {
            guard let pin else { continue }
            guard gpio.chipLabel != nil else { throw fail("gpio.\(what) needs gpio.chip_label") }
            guard pin.line >= 0, pin.line < 1024, pin.headerPin >= 1, pin.headerPin <= 40 else {
                throw fail("gpio.\(what): line 0...1023 and header pin 1...40")
            }
        }
        if let l = gpio.statusLed, let b = gpio.button, l.line == b.line { throw fail("the status LED and the button share line \(l.line)") }
        guard Self.knownQuants.contains(recommended.quant) else { throw fail("recommended.quant '\(recommended.quant)' is not a GGUF quant the kernels run (\(Self.knownQuants.sorted().joined(separator: ", ")))") }
        guard recommended.context >= 128, recommended.context <= 131_072 else { throw fail("recommended.context must be 128...131072") }
        guard !recommended.model.isEmpty else { throw fail("recommended.model is empty") }
    }

    /// The keys of a JSON object that the profile type does not know (typos would otherwise be
    /// silently ignored). Keys whose value is null are accepted when the field is optional.
    static func unknownKeys(json: Any, known: Any, path: String = "") -> [String] {
        guard let j = json as? [String: Any] else {
            if let ja = json as? [Any], let ka = known as? [Any] {
                return zip(ja, ka).enumerated().flatMap { unknownKeys(json: $0.element.0, known: $0.element.1, path: "\(path)[\($0.offset)]") }
            }
            return []
        }
        let k = known as? [String: Any] ?? [:]
        var out: [String] = []
        for (key, value) in j.sorted(by: { $0.key < $1.key }) {
            let here = path.isEmpty ? key : path + "." + key
            if let kv = k[key] {
                out += unknownKeys(json: value, known: kv, path: here)
            } else if !(value is NSNull) {
                out.append(here)
            }
        }
        return out
    }

    /// Decodes and validates one profile file.
    public static func load(file: String) throws -> BoardProfile {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw BoardsError.unreadable(path: file, "missing or not readable")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let profile: BoardProfile
        do {
            profile = try decoder.decode(BoardProfile.self, from: data)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw BoardsError.badProfile(file: file, "missing key '\(Self.snake(key.stringValue))' at \(Self.where(ctx))")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw BoardsError.badProfile(file: file, "wrong type at \(Self.where(ctx)): expected \(type)")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw BoardsError.badProfile(file: file, "null at \(Self.where(ctx)): expected \(type)")
        } catch {
            throw BoardsError.badProfile(file: file, "not valid JSON: \(error)")
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        if let raw = try? JSONSerialization.jsonObject(with: data),
           let known = try? JSONSerialization.jsonObject(with: encoder.encode(profile)) {
            let extra = unknownKeys(json: raw, known: known)
            guard extra.isEmpty else { throw BoardsError.badProfile(file: file, "unknown keys \(extra)") }
        }
        try profile.validate(file: file)
        return profile
    }

    private static func `where`(_ ctx: DecodingError.Context) -> String {
        let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? snake($0.stringValue) }.joined(separator: ".")
        return p.isEmpty ? "the top level" : p
    }

    private static func snake(_ s: String) -> String {
        var out = ""
        for ch in s {
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}
