// Without libFuzzer (the normal build) the same binary replays inputs through a target and
// writes the seed corpora:
//   gemma-edge-fuzz run TARGET FILE...   feeds each file to TARGET; exits 1 on the first finding
//   gemma-edge-fuzz seeds DIR            writes the seed corpora to DIR/<target>/
#if !FUZZING
import Foundation
import FuzzTargets

@main
struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        func usage() -> Never {
            FileHandle.standardError.write(Data("usage: gemma-edge-fuzz run \(names) FILE... | seeds DIR\n".utf8))
            exit(2)
        }
        guard let command = args.first else { usage() }
        switch command {
        case "seeds":
            guard args.count == 2 else { usage() }
            do {
                try FuzzSeeds.write(to: args[1])
            } catch {
                FileHandle.standardError.write(Data("gemma-edge-fuzz: \(error)\n".utf8))
                exit(1)
            }
        case "run":
            guard args.count >= 3, let target = FuzzTarget(rawValue: args[1]) else { usage() }
            target.prepare()
            for path in args.dropFirst(2) {
                do {
                    try target.run(file: path)
                } catch {
                    FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
                    exit(1)
                }
            }
            print("\(args.count - 2) inputs ran through \(target.rawValue) without a finding")
        default:
            usage()
        }
    }
}
#endif
