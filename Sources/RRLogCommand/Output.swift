import Foundation

/// Printing helpers: stdout for results, stderr for diagnostics, JSON with sorted keys.
enum Output {
    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    static func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static var isTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// A progress line on a terminal (stderr), silent in pipes.
final class Progress {
    private let label: String
    private var total: Int
    private let enabled: Bool
    private var lastDraw = 0.0

    init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = Output.isTerminal && ProcessInfo.processInfo.environment["RRLOG_NO_PROGRESS"] == nil
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastDraw > 0.1 || done >= total else { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %3.0f%%", label, bar, fraction * 100).utf8))
    }

    /// Updates against a total learnt while working.
    func update(_ done: Int, of newTotal: Int) {
        total = max(newTotal, 1)
        update(done)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
