internal import CNetlink
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Every failure a ``Scanner`` reports: one typed error for the library, with the kernel's `Errno` where the
/// kernel gave one and a ``Category`` that tells a caller what kind of problem it is.
///
/// The cases keep the detail of each source (the netlink operation, the byte offset of a malformed reply,
/// the namespace path, the `/proc` file and line); ``category`` sorts them for a caller that only needs to
/// decide what to do: fix the query, get a permission, load a module, or look at the machine.
public enum SockDiagError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kernel refused or failed a netlink request.
    case kernel(NetlinkError)
    /// A netlink reply failed a bounds or consistency check.
    case malformedReply(DumpParseError)
    /// A network namespace could not be opened or entered.
    case namespace(NamespaceError)
    /// A `/proc` file could not be read or parsed.
    case procfs(ProcNetError)
    /// The filter cannot be made into a program for the scanned namespace (an unknown device, a program too
    /// long, `autobound` where only user space could test it).
    case filter(FilterCompileError)
    /// The query cannot run as given, whatever the machine (for example bytecode and a filter together).
    case invalidQuery(String)
    /// What the query asks is not available here: the kernel lacks a request, or the `/proc` path (which
    /// stands in when sock_diag is refused) cannot test a condition.
    case unsupported(String)

    /// What kind of problem an error is, for a caller deciding what to do.
    public enum Category: String, Hashable, Sendable {
        /// The query or filter is wrong as given: fix the input.
        case usage
        /// The kernel or the file system refused (`EPERM`, `EACCES`): run with the capability named.
        case permission
        /// This kernel or path cannot do it (a diag module not loaded, a request not served).
        case unsupported
        /// The kernel failed the request for another reason, or sent a reply that fails a check.
        case kernel
        /// Something of the machine is missing or unreadable (a namespace, a `/proc` file).
        case environment
    }

    /// The category of this error.
    public var category: Category {
        switch self {
        case .kernel(let error):
            switch error.errno {
            case .notPermitted, .permissionDenied: .permission
            case .protocolNotSupported, .addressFamilyNotSupported, .noSuchFileOrDirectory, .notSupported:
                .unsupported
            default: .kernel
            }
        case .malformedReply: .kernel
        case .namespace(let error):
            switch error.errno {
            case .notPermitted, .permissionDenied: .permission
            default: .environment
            }
        case .procfs(let error):
            if case .unreadable(_, let code) = error, code == .permissionDenied || code == .notPermitted {
                .permission
            } else {
                .environment
            }
        case .filter, .invalidQuery: .usage
        case .unsupported: .unsupported
        }
    }

    /// The error number behind the error, where a system call or the kernel gave one.
    public var errno: Errno? {
        switch self {
        case .kernel(let error): error.errno
        case .namespace(let error): error.errno
        case .procfs(.unreadable(_, let code)): code
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .kernel(let error): error.description
        case .malformedReply(let error): error.description
        case .namespace(let error): error.description
        case .procfs(let error): error.description
        case .filter(let error): error.description
        case .invalidQuery(let text), .unsupported(let text): text
        }
    }
}

/// A failure the kernel reported for a netlink operation, with what to do about it.
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The error number: `NLMSG_ERROR`'s `-error`, the one `NLMSG_DONE` carried, or `errno` after a
    /// system call on the netlink socket.
    public var errno: Errno
    /// What was being done: `"socket NETLINK_SOCK_DIAG"`, `"dump tcp inet6"`.
    public var operation: String

    /// An error the kernel reported for `operation`.
    public init(errno: Errno, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// Whether the kernel refused sock_diag as such (so the /proc reader may stand in).
    public var isRefusal: Bool {
        [
            .notPermitted, .permissionDenied, .addressFamilyNotSupported, .protocolNotSupported,
            .noSuchFileOrDirectory, .notSupported,
        ].contains(errno)
    }

    /// What to do about it, for the errors users meet.
    public var advice: String? {
        switch errno {
        case .notPermitted, .permissionDenied:
            "the kernel refused sock_diag here (a container or seccomp policy?); run with CAP_NET_ADMIN or outside the sandbox"
        case .protocolNotSupported, .addressFamilyNotSupported:
            "this kernel has no NETLINK_SOCK_DIAG (CONFIG_INET_DIAG); load it with: modprobe inet_diag"
        case .noSuchFileOrDirectory:
            if operation.contains("udp") {
                "the udp_diag module is not loaded: modprobe udp_diag"
            } else {
                "the tcp_diag module is not loaded: modprobe tcp_diag"
            }
        case .invalidArgument where operation.contains("bytecode") || operation.contains("filter"):
            "the kernel's bytecode auditor rejected the filter program"
        default: nil
        }
    }

    public var description: String {
        let base = "\(operation): \(errno)"
        if let advice { return base + " (\(advice))" }
        return base
    }
}

extension Errno {
    /// The error's symbolic name, `EPERM`, or `errno N` for a number without one.
    package var symbolicName: String {
        cnl_errno_name(rawValue).map { String(cString: $0) } ?? "errno \(rawValue)"
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

extension SockDiagError {
    /// `error` as a ``SockDiagError``: the library's own errors wrapped in their case, anything else (what
    /// a caller's closure threw) returned as it is.
    static func wrapping(_ error: any Error) -> any Error {
        switch error {
        case let error as SockDiagError: error
        case let error as NetlinkError: SockDiagError.kernel(error)
        case let error as DumpParseError: SockDiagError.malformedReply(error)
        case let error as NamespaceError: SockDiagError.namespace(error)
        case let error as ProcNetError: SockDiagError.procfs(error)
        case let error as FilterCompileError: SockDiagError.filter(error)
        default: error
        }
    }

    /// `error`, which a library call threw (never a caller's closure), as a ``SockDiagError``.
    package static func typed(_ error: any Error) -> SockDiagError {
        wrapping(error) as? SockDiagError ?? .invalidQuery("unexpected error: \(error)")
    }
}
