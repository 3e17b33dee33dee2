#if canImport(Glibc)
    import Glibc
#endif

/// Why a file could not be written: the path and `errno`, which ``description`` words as `strerror` does.
public struct FileWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    /// The system call that failed (`open`, `write`, `fsync`, `rename`).
    public var operation: String

    public init(path: String, errno: Int32, operation: String) {
        self.path = path
        self.errno = errno
        self.operation = operation
    }

    /// `No such file or directory`.
    public var reason: String { String(cString: strerror(errno)) }
    public var description: String { "\(path): \(reason)" }
}

/// Writes a whole file or nothing: into a new file beside it, flushed to disk, then renamed over it
/// (`rename(2)` is atomic), so that a reader never sees half a file and a failure leaves the old one as it was.
public enum AtomicFile {
    /// Writes `text` to `path` (created `0666` less the umask, or replaced).
    ///
    /// - Throws: ``FileWriteError`` with `errno`: `ENOENT` (no such directory), `EACCES`, `EISDIR` (`path` is a
    ///   directory), `ENOSPC`…; the temporary file is removed.
    public static func write(_ text: String, to path: String) throws(FileWriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var temporary = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            temporary = "\(directory).\(name).\(getpid()).\(attempt).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        if fd < 0 { throw FileWriteError(path: path, errno: errno, operation: "open") }
        var failure: FileWriteError?
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = FileWriteError(path: path, errno: errno, operation: "write")
                    return
                }
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = FileWriteError(path: path, errno: errno, operation: "fsync") }
        // close() reports a deferred write error on some file systems (NFS).
        if close(fd) != 0 && failure == nil { failure = FileWriteError(path: path, errno: errno, operation: "close") }
        if failure == nil && rename(temporary, path) != 0 {
            failure = FileWriteError(path: path, errno: errno, operation: "rename")
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }
}
