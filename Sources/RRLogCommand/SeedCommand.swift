import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop

/// `rrlog seed`: a synthetic OTLP traces session, the same for the same arguments.
struct SeedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Generate a synthetic OTLP traces session (deterministic).",
        discussion: """
            Services frontend → checkout → inventory, payment, shipping (high-load adds cart and \
            recommendation) with parent/child spans and error statuses at --error-rate. complex-topology \
            has eleven services behind an API gateway, calls six levels deep, databases and a queue \
            (orders publishes, notification consumes). payment-failure runs three phases of equal length \
            (baseline, 75% payment failures, recovery), named in the session's annotations phase.1..3. \
            training-phases runs warm-up (20% of the time, 0.3x the rate, 0.5x the error rate), steady \
            (40%, 1x, 1x), spike (20%, 3x, 4x) and cool-down (20%, 0.5x, 0.5x), described in the \
            annotations test.phase.1..4. The same arguments give byte-identical records: no wall clock, \
            and all randomness comes from --seed.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "basic-topology, complex-topology, payment-failure, high-load or training-phases.")
    var pattern: String = "basic-topology"

    @Option(help: "Seconds of traffic.")
    var duration: Double = 60

    @Option(help: "Traces per second.")
    var rate: Double = 10

    @Option(name: .customLong("error-rate"), help: "Share of traces with an error, 0 to 1.")
    var errorRate: Double = 0.05

    @Option(help: "The random seed.")
    var seed: UInt64 = 1

    @Option(help: "The first trace's time: ISO 8601 or nanoseconds since the epoch (default 2025-01-01T00:00:00Z).")
    var start: String?

    @Option(help: "Session name (default seed-<pattern>-<seed>).")
    var session: String?

    @Option(help: "The session's description (default: what was generated).")
    var description: String?

    func options() throws -> OTLPSeedOptions {
        guard let p = OTLPSeedPattern(rawValue: pattern) else {
            throw ValidationError("--pattern must be one of \(OTLPSeedPattern.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let startNs = try start.map { try parseTime($0, option: "--start") } ?? OTLPSeedOptions.defaultStartNs
        let o = OTLPSeedOptions(pattern: p, durationSeconds: duration, tracesPerSecond: rate, errorRate: errorRate, seed: seed, startNs: startNs)
        do { try o.validate() } catch { throw ValidationError(error.message) }
        return o
    }

    func validate() throws { _ = try options() }

    func run() throws {
        let options = try options()
        let name = session ?? "seed-\(pattern)-\(seed)"
        let store = try storeOptions.open(create: true)
        var spans = 0
        let manifest = try reporting { () throws -> SessionManifest in
            let created = try store.createSession(
                name: name, type: "seed",
                description: description ?? "synthetic OTLP traces: \(pattern), \(String(format: "%g", duration)) s at \(String(format: "%g", rate)) traces/s",
                annotations: OTLPSeedGenerator.annotations(options))
            do throws(RRLogError) {
                let writer = try store.openWriter(created)
                var batch: [OTLPRequest] = []
                do throws(RRLogError) {
                    try OTLPSeedGenerator.forEachRequest(options) { (request) throws(RRLogError) in
                        spans += request.itemCount
                        batch.append(request)
                        if batch.count >= 64 {
                            try OTLPImporter.append(batch, to: writer)
                            batch.removeAll()
                        }
                    }
                    try OTLPImporter.append(batch, to: writer)
                    return try writer.close()
                } catch {
                    _ = try? writer.close(status: "failed")
                    throw error
                }
            } catch {
                try? store.remove(created)
                throw error
            }
        }
        print("seeded \(manifest.name): \(spans) spans in \(manifest.countsByKind["otlp_traces"] ?? 0) requests, \(manifest.recordCount) records")
    }
}
