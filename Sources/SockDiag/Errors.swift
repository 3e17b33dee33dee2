#if canImport(Glibc)
    import Glibc
#endif

/// A failure the kernel reported for a netlink operation, with what to do about it.
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The error number (`NLMSG_ERROR`'s `-error`, or `errno` after a system call), positive.
    public var errno: Int32
    /// What was being done: `"socket NETLINK_SOCK_DIAG"`, `"dump tcp inet6"`.
    public var operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// Whether the kernel refused sock_diag as such (so the /proc reader may stand in).
    public var isRefusal: Bool {
        [EPERM, EACCES, EAFNOSUPPORT, EPROTONOSUPPORT, ENOENT, EOPNOTSUPP].contains(errno)
    }

    /// What to do about it, for the errors users meet.
    public var advice: String? {
        switch errno {
        case EPERM, EACCES:
            "the kernel refused sock_diag here (a container or seccomp policy?); run with CAP_NET_ADMIN or outside the sandbox"
        case EPROTONOSUPPORT, EAFNOSUPPORT:
            "this kernel has no NETLINK_SOCK_DIAG (CONFIG_INET_DIAG); load it with: modprobe inet_diag"
        case ENOENT:
            if operation.contains("udp") {
                "the udp_diag module is not loaded: modprobe udp_diag"
            } else {
                "the tcp_diag module is not loaded: modprobe tcp_diag"
            }
        case EINVAL where operation.contains("bytecode") || operation.contains("filter"):
            "the kernel's bytecode auditor rejected the filter program"
        default: nil
        }
    }

    public var description: String {
        let base = "\(operation): \(String(cString: strerror(errno)))"
        if let advice { return base + " (\(advice))" }
        return base
    }
}

/// A netlink reply that failed a bounds or consistency check.
public enum DumpParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A message or attribute needed `needed` bytes where `available` were left, at `offset`.
    case truncated(offset: Int, needed: Int, available: Int)
    /// A reply did not belong to our request (sequence number or port id), at `offset`.
    case foreignMessage(offset: Int)
    /// The bytes ended before the dump's `NLMSG_DONE`, at `offset`.
    case unterminated(offset: Int)
    /// A data message of a type an inet_diag dump never sends, at `offset`.
    case unexpectedType(offset: Int, type: UInt16)

    public var description: String {
        switch self {
        case .truncated(let offset, let needed, let available):
            "malformed netlink reply at byte \(offset): needed \(needed) bytes, \(available) left"
        case .foreignMessage(let offset):
            "netlink reply at byte \(offset) does not answer our request (sequence or port id)"
        case .unterminated(let offset):
            "netlink dump ended at byte \(offset) without NLMSG_DONE"
        case .unexpectedType(let offset, let type):
            "netlink message at byte \(offset) has type \(type), not an inet_diag reply (18 or 20)"
        }
    }
}
