import CNetlink
import SockDiag
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The netlink socket never takes fd 0, 1 or 2, even when one is free: a program embedding SockDiag that
/// was started with stdout closed would otherwise write its output into the socket.
@Suite("sock_diag socket descriptor", .serialized)
struct SocketDescriptorTests {
    /// Runs `body` with fd 0 closed, restoring the test process's stdin afterwards. Only stdin: nothing in
    /// the test runner reads it, so the window is harmless (the suite runs serially).
    static func withStdinClosed(_ body: () throws -> Void) throws {
        let saved = fcntl(0, F_DUPFD_CLOEXEC, 3)
        try #require(saved >= 3, "dup stdin: \(String(cString: strerror(errno)))")
        defer {
            dup2(saved, 0)
            close(saved)
        }
        close(0)
        try body()
    }

    @Test func socketIsAboveTheStandardDescriptors() throws {
        try Self.withStdinClosed {
            let nl = try #require(cnl_sock_diag_open(), "\(String(cString: strerror(errno)))")
            defer { cnl_sock_diag_close(nl) }
            let fd = mnl_socket_get_fd(nl)
            #expect(fd >= 3, "the socket took fd \(fd)")
            // Close-on-exec: a child started by the embedding program does not inherit it.
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            // The descriptor it landed on first was given back: fd 0 is free again, nothing leaked.
            #expect(fcntl(0, F_GETFD) == -1 && errno == EBADF)
            // And it works: a port id was bound.
            #expect(mnl_socket_get_portid(nl) != 0)
        }
    }

    /// The namespace file a ``NetworkNamespace`` holds open for its life is kept off fd 0-2 too.
    @Test func namespaceFileIsAboveTheStandardDescriptors() throws {
        try Self.withStdinClosed {
            let namespace = try NetworkNamespace(path: "/proc/self/ns/net")
            #expect(namespace.fd >= 3, "the namespace file took fd \(namespace.fd)")
            #expect(fcntl(namespace.fd, F_GETFD) & FD_CLOEXEC != 0)
            #expect(fcntl(0, F_GETFD) == -1 && errno == EBADF)
            #expect(try namespace.run { 1 } == 1)
        }
    }
}
