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
    /// The temporary file is `.NAME.PID.RANDOM.tmp` beside the target (hidden, and not `*.prom`, so the
    /// collector never reads it); it is removed again when a step fails. An existing `path` that is not a
    /// regular file (a device, a FIFO, a symbolic link) is refused and left as it is.
    /// - Throws: ``TextfileError`` naming the file that failed (the target, or the temporary file), the step
    ///   and the errno.
    public static func write(_ bytes: [UInt8], to path: String) throws(TextfileError) {
        // The collector runs as another user: 0644 whatever the umask.
        do {
            try AtomicFile.write(bytes, to: path, mode: 0o644)
        } catch {
            throw TextfileError(failure: error)
        }
    }
}

/// A step of ``Textfile/write(_:to:)`` failed.
public struct TextfileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What failed, on which file.
    public var failure: FileWriteError

    /// The file to write.
    public var path: String { failure.path }
    /// The step that failed (see ``FileWriteError/operation``).
    public var operation: String { failure.operation }
    public var errno: Int32 { failure.errno }

    /// `cannot write /d/t.prom: cannot create the temporary file /d/.t.prom.4711.….tmp: Read-only file system`.
    public var description: String { failure.description }
}
