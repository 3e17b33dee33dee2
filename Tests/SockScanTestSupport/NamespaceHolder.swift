import Foundation
import SockDiag

/// A process (`sleep`) inside a test namespace, so that the namespace can be named by its pid
/// (`--netns PID`, `/proc/PID/ns/net`); ``exit()`` ends it, as when a container's last process exits.
public final class NamespaceHolder: @unchecked Sendable {
    private let process: BackgroundProcess

    /// The holder's pid: the spec `--netns` takes.
    public var pid: pid_t { process.pid }

    /// Starts `ip netns exec NAME sleep 600` and waits (bounded) until the process is inside the namespace.
    ///
    /// - Throws: ``CommandError`` when it does not get there.
    public init(in namespace: TestNamespace) throws {
        process = try BackgroundProcess("ip", ["netns", "exec", namespace.name, "sleep", "600"])
        var held = stat()
        guard fstat(namespace.namespace.fd, &held) == 0 else { throw SystemCallError("fstat namespace") }
        for _ in 0..<500 {
            var status = stat()
            if stat("/proc/\(process.pid)/ns/net", &status) == 0 && status.st_ino == held.st_ino
                && status.st_dev == held.st_dev
            {
                return
            }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        _ = process.stop(SIGKILL)
        throw CommandError("ip netns exec \(namespace.name) sleep: never entered the namespace: \(process.stderr)")
    }

    /// Ends the process (SIGKILL) and reaps it: `/proc/PID` is gone afterwards.
    public func exit() { _ = process.stop(SIGKILL) }

    deinit { exit() }
}

extension TestNamespace {
    /// A TCP socket listening on `127.0.0.1:port` inside the namespace (close it when done).
    ///
    /// - Throws: ``SystemCallError`` when it cannot be made.
    public func loopbackListener(port: UInt16) throws -> Int32 {
        try run {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError("socket") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 16) == 0 else {
                let error = SystemCallError("listen 127.0.0.1:\(port)")
                Glibc.close(fd)
                throw error
            }
            return fd
        }
    }
}

/// The device number of `/dev/null` (major 1, minor 3), for `mknod` (glibc's `makedev` is a macro).
public let nullDevice = dev_t(1 << 8 | 3)
