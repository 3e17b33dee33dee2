import Foundation
import SockDiag

/// A private, named network namespace for one test suite: `ip netns add sockscan-t-PID-N`, `lo` up,
/// TIME_WAIT kept (no reuse, room for many), deleted again by ``close()`` or when released.
///
/// Only loopback exists inside, so traffic there never leaves the machine. Creation also deletes the
/// `sockscan-t-PID-*` namespaces of test processes that died without cleaning up.
///
/// The namespace gets its own small TCP and UDP hash tables where the kernel allows it
/// (`tcp_child_ehash_entries`, Linux 6.1; `udp_child_hash_entries`, 6.2): otherwise every dump and
/// every read of `/proc/net/tcp` walks the host-wide table, with whatever a benchmark running beside
/// the tests holds in it (500k sockets make each dump of a 20-socket namespace take half a second).
/// The setting is read from the creating process's namespace, so `ip netns add` runs inside a
/// throw-away parent namespace that has it.
public final class TestNamespace: @unchecked Sendable {
    /// The prefix of every namespace these tests make.
    public static let namePrefix = "sockscan-t-"

    /// The `ip netns` name (`/run/netns/NAME`).
    public let name: String
    /// The namespace, held open: scanners and ``run(_:)`` use it.
    public let namespace: NetworkNamespace

    private let lock = NSLock()
    private var closed = false

    nonisolated(unsafe) private static var counter = 0
    private static let counterLock = NSLock()

    /// Makes the namespace and prepares it.
    ///
    /// - Throws: ``CommandError`` when `ip` fails (not root?), ``NamespaceError``, or ``SystemCallError``
    ///   when a sysctl cannot be set; the namespace is deleted again first.
    public init() throws {
        Self.removeStale()
        let number = Self.counterLock.withLock {
            Self.counter += 1
            return Self.counter
        }
        let name = "\(Self.namePrefix)\(getpid())-\(number)"
        try Self.add(name)
        do {
            try Command.check("ip", ["-n", name, "link", "set", "lo", "up"])
            let namespace = try NetworkNamespace(name)
            try namespace.run {
                // The default 2 lets connect() reuse a TIME_WAIT port on loopback: the mix would change.
                try Sysctl.set("net/ipv4/tcp_tw_reuse", to: 0)
                try Sysctl.set("net/ipv4/tcp_max_tw_buckets", to: 262_144)
                try Self.waitForLoopbackIPv6()
            }
            self.name = name
            self.namespace = namespace
        } catch {
            _ = try? Command.run("ip", ["netns", "delete", name])
            throw error
        }
    }

    deinit { close() }

    /// Number of buckets of the namespace's own TCP established hash table.
    public static let tcpHashBuckets = 1024
    /// Number of buckets of the namespace's own UDP hash table (the kernel's minimum is 256).
    public static let udpHashBuckets = 256

    /// `ip netns add NAME`, run from a thread inside a parent namespace whose `*_child_*hash_entries`
    /// give the new namespace private hash tables (a child process starts in its creating thread's
    /// namespace). Falls back to a plain `ip netns add` where the kernel lacks the settings.
    static func add(_ name: String) throws {
        let parentName = name + "-parent"
        try Command.check("ip", ["netns", "add", parentName])
        defer { _ = try? Command.run("ip", ["netns", "delete", parentName], timeout: 10) }
        let parent = try NetworkNamespace(parentName)
        try parent.run {
            // Best effort: older kernels have no such files, and then the table is shared.
            try? Sysctl.set("net/ipv4/tcp_child_ehash_entries", to: tcpHashBuckets)
            try? Sysctl.set("net/ipv4/udp_child_hash_entries", to: udpHashBuckets)
            try Command.check("ip", ["netns", "add", name])
        }
    }

    /// The namespace's TCP established hash size: positive when private, negative when it is the
    /// host's shared table (`net.ipv4.tcp_ehash_entries`), nil when the kernel does not say.
    public func tcpHashEntries() -> Int? {
        try? run {
            Int(try readText("/proc/sys/net/ipv4/tcp_ehash_entries").trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Deletes the namespace's name. Sockets still open in it keep it alive until they are closed.
    public func close() {
        let first = lock.withLock {
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        let result = try? Command.run("ip", ["netns", "delete", name], timeout: 10)
        if result?.status != 0 {
            let reason = result.map { $0.stderr } ?? "did not finish"
            FileHandle.standardError.write(Data("warning: ip netns delete \(name): \(reason)\n".utf8))
        }
    }

    /// Runs `body` on a thread inside the namespace (sockets made there belong to it).
    public func run<T>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try namespace.run(body)
    }

    /// Runs a program inside the namespace: `ip netns exec NAME program arguments…`.
    public func exec(_ program: String, _ arguments: [String], timeout: Double = 20) throws -> CommandResult {
        try Command.run("ip", ["netns", "exec", name, program] + arguments, timeout: timeout)
    }

    /// Deletes `sockscan-t-PID-*` namespaces whose process is gone (a test run that crashed or was killed).
    public static func removeStale() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return }
        for name in names where name.hasPrefix(namePrefix) {
            let rest = name.dropFirst(namePrefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            if pid == getpid() { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            _ = try? Command.run("ip", ["netns", "delete", name], timeout: 10)
        }
    }

    /// Waits (at most 2 s) until `::1` is on `lo` and no longer tentative, so binding it cannot fail.
    /// Runs on a thread inside the namespace.
    static func waitForLoopbackIPv6() throws {
        for _ in 0..<200 {
            let text = (try? readText("/proc/thread-self/net/if_inet6")) ?? ""
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // address index prefix scope flags name; IFA_F_TENTATIVE is 0x40.
                if fields.count >= 6, fields[0] == "00000000000000000000000000000001",
                    let flags = UInt32(fields[4], radix: 16), flags & 0x40 == 0
                {
                    return
                }
            }
            usleep(10_000)
        }
        throw CommandError("::1 did not appear on lo within 2 s (IPv6 disabled?)")
    }
}

/// A failed system call in test support: which call, which errno.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32

    public init(_ operation: String, errno: Int32 = Glibc.errno) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
}

/// Reads a small text file (`/proc`) whole.
func readText(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SystemCallError("open \(path)") }
    defer { Glibc.close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw SystemCallError("read \(path)")
        }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// `/proc/sys/net` of the calling thread's namespace.
public enum Sysctl {
    /// Writes an integer `value` to `/proc/sys/KEY` and checks that it reads back the same.
    public static func set(_ key: String, to value: Int) throws { try set(key, to: String(value)) }

    /// Writes `value` (`"10000 65535"` for a range) and checks that it reads back the same, tabs for spaces.
    public static func set(_ key: String, to value: String) throws {
        let path = "/proc/sys/\(key)"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCallError("open \(path)") }
        let text = Array("\(value)\n".utf8)
        let n = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let saved = errno
        Glibc.close(fd)
        guard n == text.count else { throw SystemCallError("write \(path)", errno: saved) }
        let back = try readText(path).trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "\t", with: " ")
        guard back == value else { throw CommandError("\(path) reads \(back) after writing \(value)") }
    }
}
