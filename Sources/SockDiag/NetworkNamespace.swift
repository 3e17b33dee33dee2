internal import CNetlink
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A network namespace to scan, held open by file descriptor.
///
/// Namespaces are per thread: ``run(_:)`` moves a dedicated new thread into the namespace (never a thread
/// of a shared pool), runs the work there and joins it. A netlink socket opened there stays in the
/// namespace, so a ``Scanner`` made with a namespace can then be used from any thread.
public final class NetworkNamespace: Sendable {
    /// The path the namespace was opened from (`/run/netns/NAME`, `/proc/PID/ns/net`, …).
    public let path: String
    /// The open namespace file.
    public let fd: Int32

    /// Opens a namespace by `ip netns` name, by process id, or by path.
    ///
    /// - Parameter spec: `NAME` (looked up in `/run/netns`), a number (`/proc/PID/ns/net`) or a path.
    /// - Throws: ``NamespaceError`` naming the path and what to do.
    public convenience init(_ spec: String) throws(NamespaceError) {
        if spec.contains("/") {
            try self.init(path: spec)
        } else if let pid = Int32(spec), pid > 0 {
            try self.init(path: "/proc/\(pid)/ns/net")
        } else {
            try self.init(path: "/run/netns/\(spec)")
        }
    }

    /// Opens the namespace file at `path`.
    public init(path: String) throws(NamespaceError) {
        var fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw NamespaceError(path: path, errno: Errno(rawValue: errno), operation: "open") }
        // Held for the namespace's life: never on fd 0-2 (a program started with stdout closed would
        // otherwise write its output to this descriptor).
        if fd <= STDERR_FILENO {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1)
            let saved = errno
            close(fd)
            if moved < 0 {
                throw NamespaceError(path: path, errno: Errno(rawValue: saved), operation: "fcntl(F_DUPFD_CLOEXEC)")
            }
            fd = moved
        }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Runs `body` on a new thread that has entered this namespace, and returns its result.
    ///
    /// - Throws: ``NamespaceError`` when `setns` is refused or no thread can be started, or what `body`
    ///   throws.
    public func run<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let fd = self.fd
        let path = self.path
        let rc = DedicatedThread.join {
            let entered = cnl_netns_enter(fd)
            if entered < 0 {
                outcome.result = .failure(
                    NamespaceError(path: path, errno: Errno(rawValue: -entered), operation: "setns"))
            } else {
                outcome.result = Result { try body() }
            }
        }
        if rc != 0 { throw NamespaceError(path: path, errno: Errno(rawValue: rc), operation: "pthread_create") }
        return try outcome.result!.get()
    }
}

/// What a namespace thread hands back; written by that thread before the join, read after it.
private final class Outcome<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Why a namespace could not be opened or entered.
public struct NamespaceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The namespace file.
    public var path: String
    /// The error number of the failed call.
    public var errno: Errno
    /// The call that failed: `open` (the namespace file), `setns` (entering it) or `pthread_create` (the
    /// thread that enters it).
    public var operation: String

    /// The message: what could not be done, the failed call with its errno, and the advice that fits.
    public var description: String {
        let call = operation == "setns" ? "setns(CLONE_NEWNET)" : operation
        let reason = errno.description
        let name = errno.symbolicName
        let cause = "\(call): \(reason) (\(name))"
        let verb = operation == "open" ? "open" : "enter"
        switch (operation, errno) {
        case ("open", .noSuchFileOrDirectory):
            return
                "network namespace \(path) does not exist (\(call): \(reason), \(name)); list them with: ip netns list"
        case ("open", .permissionDenied), ("open", .notPermitted):
            // /proc/PID/ns/net opens only with ptrace access to PID (same user, or CAP_SYS_PTRACE).
            let advice =
                path.hasPrefix("/proc/")
                ? "another user's /proc/PID/ns/net opens only for root or with CAP_SYS_PTRACE"
                : "the file's permissions do not let this user read it"
            return "cannot open network namespace \(path): \(cause); \(advice)"
        case ("setns", .notPermitted):
            return "cannot enter network namespace \(path): \(cause); entering a namespace needs root (CAP_SYS_ADMIN)"
        case ("setns", .invalidArgument):
            return "\(path) is not a network namespace (\(cause))"
        default:
            return "cannot \(verb) network namespace \(path): \(cause)"
        }
    }
}

// MARK: liveness

extension NetworkNamespace {
    /// Whether the namespace can still be found the way it was named: by the pid (`/proc/PID/ns/net`), the
    /// `ip netns` name (`/run/netns/NAME`) or the path it was opened from.
    ///
    /// The open descriptor keeps the namespace itself alive, so a scan of it goes on answering after the
    /// last process in it exited or `ip netns delete` removed its name, with no socket: a monitor that
    /// goes on reporting that namespace reports an empty one. It is gone when `path` no longer exists
    /// (the process exited, the name was deleted) or names another namespace than the one held (a pid
    /// reused or moved, a name deleted and added again). Costs one `stat` and one `fstat`.
    ///
    /// - Returns: `nil` while the namespace can be found (or `stat` fails otherwise than by its absence,
    ///   which says nothing either way); else why not.
    public func checkLiveness() -> NamespaceGone? {
        var held = stat()
        var named = stat()
        guard fstat(fd, &held) == 0 else { return nil }
        if stat(path, &named) != 0 {
            guard errno == ENOENT || errno == ESRCH || errno == ENOTDIR else { return nil }
            return NamespaceGone(path: path, replaced: false)
        }
        if named.st_dev == held.st_dev && named.st_ino == held.st_ino { return nil }
        return NamespaceGone(path: path, replaced: true)
    }
}

/// A namespace can no longer be found the way it was named (see ``NetworkNamespace/checkLiveness()``).
public struct NamespaceGone: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path the namespace was opened from.
    public var path: String
    /// Whether `path` now names another namespace (else it no longer exists).
    public var replaced: Bool

    /// The namespace opened from `path` is gone (`replaced`: the path names another one now).
    public init(path: String, replaced: Bool) {
        self.path = path
        self.replaced = replaced
    }

    /// `network namespace /proc/4711/ns/net is gone: process 4711 has exited`.
    public var description: String { "network namespace \(path) is gone: \(reason)" }

    /// Why, in the words of how the namespace was named.
    public var reason: String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 5, parts[0].isEmpty, parts[1] == "proc", parts[3] == "ns", parts[4] == "net",
            let pid = Int32(parts[2])
        {
            return replaced
                ? "process \(pid) is now in another network namespace (or the pid was reused)"
                : "process \(pid) has exited"
        }
        if parts.count == 4, parts[0].isEmpty, parts[1] == "run", parts[2] == "netns" {
            let name = parts[3]
            return replaced
                ? "\(name) now names another namespace (deleted and added again)"
                : "it was deleted (ip netns delete \(name))"
        }
        return replaced ? "\(path) now names another namespace" : "\(path) no longer exists"
    }
}
