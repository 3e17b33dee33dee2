import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Why a file could not be written: the path, what failed on which file, and `errno`, which ``reason`` words
/// as `strerror` does.
public struct FileWriteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file to write.
    public var path: String
    public var errno: Int32
    /// What failed: `open` (the directory), `stat` or `replace` (the file at `path`), `create`, `write`,
    /// `chmod`, `fsync`, `close` (the temporary file), `rename` (the temporary file over `path`).
    public var operation: String
    /// The temporary file, when it is the one that failed (its creation, a write, the rename); nil when
    /// the directory or the file at `path` did.
    public var temporary: String?
    /// Why the file at `path` was refused, instead of `errno`'s words: it is not a regular file.
    public var refusal: String?

    public init(path: String, errno: Int32, operation: String, temporary: String? = nil, refusal: String? = nil) {
        self.path = path
        self.errno = errno
        self.operation = operation
        self.temporary = temporary
        self.refusal = refusal
    }

    /// `No such file or directory`, or why the file was refused.
    public var reason: String { refusal ?? String(cString: strerror(errno)) }

    /// The reason, with the temporary file when that is what failed: `cannot write the temporary file
    /// /d/.t.prom.4711.9f3c0a2e5b7d1e44.tmp: No space left on device`.
    public var explanation: String {
        guard let temporary else { return reason }
        if operation == "rename" { return "cannot rename the temporary file \(temporary) over it: \(reason)" }
        return "cannot \(operation) the temporary file \(temporary): \(reason)"
    }

    /// `cannot write PATH: ` and the ``explanation``.
    public var description: String { "cannot write \(path): \(explanation)" }
}

/// Writes a whole file or nothing: into a new hidden file beside it (`.NAME.PID.RANDOM.tmp`, never matching a
/// reader's `*.prom` or `*.svg` pattern), flushed to disk, then renamed over it (`rename(2)` is atomic) and the
/// directory flushed, so that a reader never sees half a file and a failure leaves the old one as it was.
/// Used for charts (`sockscan report --chart`) and node_exporter's textfile collector (`sockscan metrics`).
///
/// Only a regular file is replaced: a device, a FIFO, a socket or a symbolic link at the path is refused and
/// left as it is (run as root, `--textfile /dev/null` would otherwise replace the device node). Every call
/// after the directory is opened is relative to it (`fstatat`, `openat`, `renameat`), and neither the target
/// nor the temporary name is followed when it is a symbolic link (`AT_SYMLINK_NOFOLLOW`, `O_NOFOLLOW`,
/// `O_EXCL`).
public enum AtomicFile {
    /// Writes `text` to `path`.
    ///
    /// - Parameter mode: the file's mode, whatever the umask (`0o644` for a file another user must read);
    ///   `nil` for `0666` less the umask.
    /// - Throws: ``FileWriteError`` with `errno`: `ENOENT` (no such directory), `EACCES`, `EISDIR` (`path` is a
    ///   directory), `ENOSPC`…, or `EINVAL` with a ``FileWriteError/refusal`` when `path` is not a regular
    ///   file; the temporary file is removed.
    public static func write(_ text: String, to path: String, mode: mode_t? = nil) throws(FileWriteError) {
        try write(Array(text.utf8), to: path, mode: mode)
    }

    /// Temporary names tried before giving up: a random part makes a collision all but impossible, and a
    /// name another process made on purpose cannot be guessed.
    static let temporaryAttempts = 8

    /// Writes `bytes` to `path`; see ``write(_:to:mode:)-(String,_,_)``.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t? = nil) throws(FileWriteError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !name.isEmpty, name != ".", name != ".." else {
            throw FileWriteError(path: path, errno: EISDIR, operation: "open")
        }
        let dir = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir < 0 { throw FileWriteError(path: path, errno: errno, operation: "open") }
        defer { close(dir) }
        try checkTarget(name, in: dir, path: path)
        let (fd, temporaryName) = try createTemporary(for: name, in: dir, path: path, directory: directory)
        let temporary = directory + temporaryName
        var failure: FileWriteError?
        func fail(_ operation: String) {
            failure = FileWriteError(path: path, errno: errno, operation: operation, temporary: temporary)
        }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return fail("write")
                }
                offset += n
            }
        }
        if failure == nil, let mode, fchmod(fd, mode) != 0 { fail("chmod") }
        if failure == nil && fsync(fd) != 0 { fail("fsync") }
        // close() reports a deferred write error on some file systems (NFS).
        if close(fd) != 0 && failure == nil { fail("close") }
        if failure == nil && renameat(dir, temporaryName, dir, name) != 0 { fail("rename") }
        if let failure {
            unlinkat(dir, temporaryName, 0)
            throw failure
        }
        // The rename is durable once the directory is.
        fsync(dir)
    }

    /// Refuses a `name` in `dir` that exists and is not a regular file (a symbolic link is not followed).
    private static func checkTarget(_ name: String, in dir: Int32, path: String) throws(FileWriteError) {
        var status = stat()
        guard fstatat(dir, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }  // a new file
            throw FileWriteError(path: path, errno: errno, operation: "stat")
        }
        let kind = FileKind(mode: status.st_mode)
        switch kind {
        case .regular: return
        case .directory: throw FileWriteError(path: path, errno: EISDIR, operation: "replace")
        default:
            let link = kind == .symbolicLink ? " (a link is not followed)" : ""
            throw FileWriteError(
                path: path, errno: EINVAL, operation: "replace",
                refusal: "it is \(kind), not a regular file; only a regular file is replaced\(link)")
        }
    }

    /// Creates a new temporary file for `name` in `dir`: `.NAME.PID.RANDOM.tmp`, NAME shortened so that the
    /// whole stays within `NAME_MAX`, and another random part tried when the name exists.
    ///
    /// - Returns: the open file and its name in `dir`.
    private static func createTemporary(for name: String, in dir: Int32, path: String, directory: String)
        throws(FileWriteError) -> (Int32, String)
    {
        var stem = name
        while stem.utf8.count > 200 { stem.removeLast() }
        var temporary = ""
        for _ in 0..<temporaryAttempts {
            let random = String(UInt64.random(in: .min ... .max), radix: 16)
            temporary = ".\(stem).\(getpid()).\(String(repeating: "0", count: 16 - random.count))\(random).tmp"
            let fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
            if fd >= 0 { return (fd, temporary) }
            if errno != EEXIST { break }
        }
        throw FileWriteError(path: path, errno: errno, operation: "create", temporary: directory + temporary)
    }
}
