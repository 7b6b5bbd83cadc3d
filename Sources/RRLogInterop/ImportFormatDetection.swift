public import RRLog
import Foundation

extension ImportFormat {
    /// The format of the file at `path`, judged from its name and first 64 KiB (the file is not
    /// read whole: an import streams it later).
    public static func detect(path: String) throws(RRLogError) -> ImportFormat {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RRLogError(
                .invalidArgument, FileManager.default.fileExists(atPath: path) ? "cannot read the file (permission denied)" : "no such file",
                location: path)
        }
        defer { try? handle.close() }
        let head: Data
        do { head = try handle.read(upToCount: 64 << 10) ?? Data() } catch {
            throw RRLogError(.invalidArgument, "cannot read the file: \(error.localizedDescription)", location: path)
        }
        return detect([UInt8](head), file: path)
    }
}
