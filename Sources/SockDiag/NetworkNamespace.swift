internal import CNetlink

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
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw NamespaceError(path: path, errno: errno, operation: "open") }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Runs `body` on a new thread that has entered this namespace, and returns its result.
    ///
    /// - Throws: ``NamespaceError`` when `setns` is refused, or what `body` throws.
    public func run<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let box = ThreadBox<T>(fd: fd, path: path, body: body)
        try box.start()
        return try box.result!.get()
    }
}

/// Why a namespace could not be opened or entered.
public struct NamespaceError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var operation: String

    public var description: String {
        let reason = String(cString: strerror(errno))
        switch errno {
        case ENOENT:
            return "network namespace \(path) does not exist (\(reason)); list them with: ip netns list"
        case EPERM, EACCES:
            return
                "cannot \(operation) network namespace \(path): \(reason); entering a namespace needs root (CAP_SYS_ADMIN)"
        case EINVAL where operation == "setns":
            return "\(path) is not a network namespace (\(reason))"
        default:
            return "cannot \(operation) network namespace \(path): \(reason)"
        }
    }
}

/// Carries a closure to a pthread that enters a namespace and back with its result.
private final class ThreadBox<T>: NamespaceThreadWork, @unchecked Sendable {
    let fd: Int32
    let path: String
    let body: @Sendable () throws -> T
    var result: Result<T, any Error>?

    init(fd: Int32, path: String, body: @escaping @Sendable () throws -> T) {
        self.fd = fd
        self.path = path
        self.body = body
    }

    func start() throws {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self as AnyObject).toOpaque()
        let rc = pthread_create(&thread, nil, namespaceThreadMain, context)
        guard rc == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            throw NamespaceError(path: path, errno: rc, operation: "start a thread for")
        }
        pthread_join(thread, nil)
    }

    func execute() {
        let rc = cnl_netns_enter(fd)
        if rc < 0 {
            result = .failure(NamespaceError(path: path, errno: -rc, operation: "setns"))
            return
        }
        result = Result { try body() }
    }
}

/// The work a namespace thread runs (type-erased so the C entry point needs no generic).
private protocol NamespaceThreadWork: AnyObject {
    func execute()
}

/// The pthread entry point: runs the work it was handed, which enters the namespace first.
private func namespaceThreadMain(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let object = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue()
    (object as! any NamespaceThreadWork).execute()
    return nil
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
