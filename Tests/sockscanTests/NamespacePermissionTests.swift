import Foundation
import SockScanTestSupport
import Testing

/// `--netns` refused to a user who is not root: the message names the call that failed (opening the
/// namespace file, or entering it) and its errno, and gives the advice that fits that call.
@Suite("Namespace permissions for a non-root user")
struct NamespacePermissionTests {
    /// Runs `sockscan arguments…` as `nobody` (setpriv drops every capability with the uid).
    static func runAsNobody(_ arguments: [String]) throws -> CommandResult {
        try Command.run(
            "setpriv",
            ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", SockscanBinary.path]
                + arguments)
    }

    /// `/proc/1/ns/net` belongs to root: `open` fails with EACCES (ptrace access mode), before any setns.
    @Test func openingAnotherUsersNamespaceFile() throws {
        let result = try Self.runAsNobody(["count", "-ta", "--netns", "1"])
        #expect(result.status == 1, "\(result)")
        #expect(
            result.stderr
                == "sockscan: cannot open network namespace /proc/1/ns/net: open: Permission denied (EACCES); "
                + "another user's /proc/PID/ns/net opens only for root or with CAP_SYS_PTRACE\n")
    }

    /// `/run/netns/NAME` is readable by all: `open` works, `setns` fails with EPERM (no CAP_SYS_ADMIN).
    @Test func enteringANamespaceWithoutCapability() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let result = try Self.runAsNobody(["count", "-ta", "--netns", namespace.name])
        #expect(result.status == 1, "\(result)")
        #expect(
            result.stderr
                == "sockscan: cannot enter network namespace /run/netns/\(namespace.name): setns(CLONE_NEWNET): "
                + "Operation not permitted (EPERM); entering a namespace needs root (CAP_SYS_ADMIN)\n")
    }

    /// A name that does not exist: the same call-and-errno shape, with the advice to list them.
    @Test func missingNamespace() throws {
        let result = try Self.runAsNobody(["count", "-ta", "--netns", "sockscan-no-such-namespace"])
        #expect(result.status == 1, "\(result)")
        #expect(
            result.stderr
                == "sockscan: network namespace /run/netns/sockscan-no-such-namespace does not exist "
                + "(open: No such file or directory, ENOENT); list them with: ip netns list\n")
    }
}
