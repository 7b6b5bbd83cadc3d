import Foundation

/// `RRLogBench WORKLOAD --out FILE --tmp DIR --disk DIR --fixtures DIR [--quick] [--parts a,b]`
/// Appends one JSON line per figure to FILE; exits 1 when a correctness check failed. Driven by
/// `Tools/bench`, which prints the tables.
@main
struct Bench {
    static let names = ["append-small", "append-io", "append-durable", "sessions", "ratio", "limits", "rss", "record-api", "otlp", "proxy", "serve", "concurrency", "remote", "profile"]

    static func workload(_ name: String) -> ((Context) throws -> Void)? {
        switch name {
        case "append-small": return appendSmall
        case "append-io": return appendIO
        case "append-durable": return appendDurable
        case "sessions": return sessionWorkloads
        case "ratio": return ratio
        case "limits": return limits
        case "rss": return writerRSS
        case "record-api": return recordAPI
        case "otlp": return otlp
        case "proxy": return proxy
        case "serve": return serve
        case "concurrency": return concurrency
        case "remote": return remote
        case "profile": return profile
        default: return nil
        }
    }

    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let run = workload(name) else {
            print("usage: RRLogBench \(names.joined(separator: "|")) --out FILE --tmp DIR --disk DIR --fixtures DIR [--quick] [--parts a,b]")
            exit(2)
        }
        args.removeFirst()
        var options: [String: String] = [:]
        var quick = false
        var i = 0
        while i < args.count {
            if args[i] == "--quick" {
                quick = true
                i += 1
            } else if args[i].hasPrefix("--"), i + 1 < args.count {
                options[String(args[i].dropFirst(2))] = args[i + 1]
                i += 2
            } else {
                print("unexpected argument \(args[i])")
                exit(2)
            }
        }
        let tmp = options["tmp"] ?? "/dev/shm/rrlog-bench-\(getpid())"
        let ctx = Context(
            quick: quick, tmp: tmp, disk: options["disk"] ?? tmp, fixtures: options["fixtures"] ?? "Tests/Fixtures",
            out: options["out"] ?? tmp + "/results.jsonl",
            parts: Set((options["parts"] ?? "").split(separator: ",").map(String.init)))
        do {
            try makeDirectory(ctx.tmp)
            try makeDirectory(ctx.disk)
            try run(ctx)
        } catch {
            print("ERROR in \(name): \(error)")
            exit(1)
        }
        if ctx.failures > 0 {
            print("\(name): \(ctx.failures) correctness check(s) failed")
            exit(1)
        }
    }
}
