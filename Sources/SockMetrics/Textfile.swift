import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a file so that a reader (node_exporter's textfile collector) sees either the old content or
/// the new, never a part: a temporary file in the same directory, written, given mode 0644, flushed to
/// disk, then renamed over the target, and the directory flushed.
public enum Textfile {
    /// Replaces `path` with `bytes` atomically.
    ///
    /// The temporary file is `.NAME.PID.N.tmp` beside the target (hidden, and not `*.prom`, so the
    /// collector never reads it); it is removed again when a step fails.
    /// - Throws: ``TextfileError`` naming the step, the path and the errno.
    public static func write(_ bytes: [UInt8], to path: String) throws(TextfileError) {
        // The collector runs as another user: 0644 whatever the umask.
        do {
            try AtomicFile.write(bytes, to: path, mode: 0o644)
        } catch {
            throw TextfileError(path: path, operation: error.operation, errno: error.errno)
        }
    }
}

/// A step of ``Textfile/write(_:to:)`` failed.
public struct TextfileError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32

    public var description: String { "cannot \(operation) \(path): \(String(cString: strerror(errno)))" }
}
