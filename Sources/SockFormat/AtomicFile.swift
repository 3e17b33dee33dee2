import SockDiag

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

/// Writes a whole file or nothing: into a new hidden file beside it (`.NAME.PID.N.tmp`, never matching a
/// reader's `*.prom` or `*.svg` pattern), flushed to disk, then renamed over it (`rename(2)` is atomic) and the
/// directory flushed, so that a reader never sees half a file and a failure leaves the old one as it was.
/// Used for charts (`sockscan report --chart`) and node_exporter's textfile collector (`sockscan metrics`).
public enum AtomicFile {
    /// Writes `text` to `path`.
    ///
    /// - Parameter mode: the file's mode, whatever the umask (`0o644` for a file another user must read);
    ///   `nil` for `0666` less the umask.
    /// - Throws: ``FileWriteError`` with `errno`: `ENOENT` (no such directory), `EACCES`, `EISDIR` (`path` is a
    ///   directory), `ENOSPC`…; the temporary file is removed.
    public static func write(_ text: String, to path: String, mode: mode_t? = nil) throws(FileWriteError) {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Writes `bytes` to `path`; see ``write(_:to:mode:)-(String,_,_)``.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t? = nil) throws(FileWriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty else { throw FileWriteError(path: path, errno: EISDIR, operation: "open") }
        var temporary = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            temporary = "\(directory).\(name).\(getpid()).\(attempt).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        if fd < 0 { throw FileWriteError(path: path, errno: errno, operation: "open") }
        var failure: FileWriteError?
        bytes.withUnsafeBytes { buffer in
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
        if failure == nil, let mode, fchmod(fd, mode) != 0 {
            failure = FileWriteError(path: path, errno: errno, operation: "chmod")
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
        // The rename is durable once the directory is.
        let dir = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
