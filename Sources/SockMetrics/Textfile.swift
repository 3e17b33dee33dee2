#if canImport(Glibc)
    import Glibc
#endif

/// Writes a file so that a reader (node_exporter's textfile collector) sees either the old content or
/// the new, never a part: a temporary file in the same directory, written, given mode 0644, flushed to
/// disk, then renamed over the target, and the directory flushed.
public enum Textfile {
    /// Replaces `path` with `bytes` atomically.
    ///
    /// The temporary file is `.NAME.PID.tmp` beside the target (hidden, and not `*.prom`, so the
    /// collector never reads it); it is removed again when a step fails.
    /// - Throws: ``TextfileError`` naming the step, the path and the errno.
    public static func write(_ bytes: [UInt8], to path: String) throws(TextfileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw TextfileError(path: path, operation: "name", errno: EISDIR) }
        let temporary = (directory == "/" ? "" : directory) + "/.\(name).\(getpid()).tmp"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw TextfileError(path: temporary, operation: "create", errno: errno) }
        func fail(_ operation: String, _ code: Int32) -> TextfileError {
            close(fd)
            unlink(temporary)
            return TextfileError(path: temporary, operation: operation, errno: code)
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write", errno)
            }
            offset += n
        }
        // The umask may have taken bits from 0644; the collector runs as another user and must read it.
        if fchmod(fd, 0o644) != 0 { throw fail("chmod", errno) }
        if fsync(fd) != 0 { throw fail("fsync", errno) }
        if close(fd) != 0 {
            let code = errno
            unlink(temporary)
            throw TextfileError(path: temporary, operation: "close", errno: code)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw TextfileError(path: path, operation: "rename \(temporary) to", errno: code)
        }
        // The rename is durable once the directory is.
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
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
