import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show a session's metadata, counts, time span, segments and sizes.")

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice


    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        if EventFile.names(choice.selector) {
            try EventFile.info(choice.selector, json: json)
            return
        }
        let store = try storeOptions.open()
        let m = try reporting { try choice.manifest(in: store) }
        if json {
            try Output.json(SessionJSON(m))
            return
        }
        for line in InfoCommand.describe(m) { Output.line(line) }
    }

    static func describe(_ m: SessionManifest) -> [String] {
        var lines: [String] = []
        lines.append("session      \(m.name)  (\(m.id))")
        lines.append("type         \(m.type), \(m.status)")
        if !m.description.isEmpty { lines.append("description  \(m.description)") }
        if !m.tags.isEmpty { lines.append("tags         \(m.tags.joined(separator: ", "))") }
        lines.append("created      \(formatTime(m.createdNs))")
        lines.append("time span    \(formatTime(m.startNs)) .. \(formatTime(m.endNs))")
        let spanSeconds = m.startNs.flatMap { s in m.endNs.map { Double($0 - s) / 1e9 } } ?? 0
        lines.append("duration     \(String(format: "%.3f", spanSeconds)) s")
        lines.append("records      \(m.recordCount)" + (spanSeconds > 0 ? String(format: "  (%.0f records/s of recorded time)", Double(m.recordCount) / spanSeconds) : ""))
        let width = max(14, m.countsByKind.keys.map(\.count).max() ?? 0)
        for (kind, n) in m.countsByKind.sorted(by: { $0.key < $1.key }) { lines.append("  \(kind.padding(toLength: width, withPad: " ", startingAt: 0)) \(n)") }
        lines.append("segments     \(m.segments.count)")
        lines.append("stored       \(Output.bytes(Int(m.bytesStored))) of record data")
        lines.append("on disk      \(Output.bytes(Int(m.bytesOnDisk)))")
        if m.bytesOnDisk > 0 { lines.append(String(format: "compression  %.2fx", Double(m.bytesStored) / Double(m.bytesOnDisk))) }
        let p = m.provenance
        var prov: [String] = []
        if let g = p.gitSHA { prov.append("git \(g)") }
        if let c = p.configDigest { prov.append("config \(c)") }
        if !p.modelIDs.isEmpty { prov.append("models \(p.modelIDs.joined(separator: ","))") }
        if !p.seeds.isEmpty { prov.append("seeds \(p.seeds.map(String.init).joined(separator: ","))") }
        if let a = p.adapter { prov.append("adapter \(a)" + (p.adapterVersion.map { " \($0)" } ?? "")) }
        if !prov.isEmpty { lines.append("provenance   \(prov.joined(separator: "; "))") }
        for (key, value) in m.annotations.sorted(by: { $0.key < $1.key }) { lines.append("annotation   \(key) = \(value)") }
        return lines
    }
}
