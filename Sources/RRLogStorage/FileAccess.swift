/// Whether this process may use a path, and if not, why: for errors that tell a user whether to
/// fix file modes or a read-only mount.
public enum FileAccess {
    /// Why access was refused.
    public enum Refusal: Sendable, Equatable {
        /// The file modes or ownership do not allow it (EACCES, EPERM).
        case permissionDenied
        /// The file system is mounted read-only (EROFS).
        case readOnlyFileSystem
        /// Another reason, with its errno description.
        case other(String)
    }

    /// Nil when this process may read (and `write`, and for a directory `search`) `path`.
    public static func refusal(_ path: String, write: Bool, search: Bool = false) -> Refusal? {
        guard let error = Sys.access(path, read: true, write: write, search: search) else { return nil }
        switch error {
        case .permissionDenied, .notPermitted: return .permissionDenied
        case .readOnlyFileSystem: return .readOnlyFileSystem
        default: return .other("\(error)")
        }
    }
}
