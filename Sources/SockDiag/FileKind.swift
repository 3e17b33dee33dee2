#if canImport(Glibc)
    import Glibc
#endif

/// The type of a file, from the `S_IFMT` bits of its `st_mode`: what a path names when it is not the regular
/// file a command writes or reads (`--textfile /dev/null`, `--db` on a FIFO).
public enum FileKind: Hashable, Sendable, CustomStringConvertible {
    case regular
    case directory
    case symbolicLink
    case fifo
    case characterDevice
    case blockDevice
    case socket
    case other

    /// The kind of a file whose `st_mode` is `mode`.
    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFSOCK: self = .socket
        default: self = .other
        }
    }

    /// The kind with its article, for "PATH is …": `a FIFO (named pipe)`, `a character device`.
    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .symbolicLink: "a symbolic link"
        case .fifo: "a FIFO (named pipe)"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .socket: "a socket"
        case .other: "a special file"
        }
    }
}
