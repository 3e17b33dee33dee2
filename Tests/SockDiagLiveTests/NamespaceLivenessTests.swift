import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// ``NetworkNamespace/checkLiveness()``: a namespace named by pid, by `ip netns` name or by path is gone
/// once that name no longer leads to the namespace held open (the held descriptor keeps it alive, so a
/// scan of it would go on answering, with no sockets).
@Suite("Namespace liveness", .serialized)
struct NamespaceLivenessTests {
    @Test func byPidGoneWhenTheProcessExits() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try NamespaceHolder(in: namespace)
        let opened = try NetworkNamespace("\(holder.pid)")
        #expect(opened.checkLiveness() == nil)
        holder.exit()
        let gone = try #require(opened.checkLiveness())
        #expect(gone.path == "/proc/\(holder.pid)/ns/net")
        #expect(
            gone.description
                == "network namespace /proc/\(holder.pid)/ns/net is gone: process \(holder.pid) has exited")
        // The namespace itself lives on (its name holds it) and is still scanned, but not by that pid.
        #expect(try NetworkNamespace(namespace.name).checkLiveness() == nil)
    }

    @Test func byPidGoneWhenThePidNowNamesAnotherNamespace() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // This process's own pid, in the host namespace: "held" is the test namespace's descriptor, opened
        // through a path that names another one now.
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-ns-\(UUID())").path
        #expect(symlink("/run/netns/\(namespace.name)", link) == 0)
        defer { unlink(link) }
        let opened = try NetworkNamespace(path: link)
        #expect(opened.checkLiveness() == nil)
        unlink(link)
        #expect(symlink("/proc/self/ns/net", link) == 0)
        let gone = try #require(opened.checkLiveness())
        #expect(gone.description == "network namespace \(link) is gone: \(link) now names another namespace")
    }

    @Test func byNameGoneWhenDeletedAndWhenAddedAgain() throws {
        let name = "\(TestNamespace.namePrefix)\(getpid())-liveness"
        _ = try? Command.run("ip", ["netns", "delete", name])
        try Command.check("ip", ["netns", "add", name])
        defer { _ = try? Command.run("ip", ["netns", "delete", name]) }
        let opened = try NetworkNamespace(name)
        #expect(opened.checkLiveness() == nil)
        try Command.check("ip", ["netns", "delete", name])
        #expect(
            opened.checkLiveness()?.description
                == "network namespace /run/netns/\(name) is gone: it was deleted (ip netns delete \(name))")
        try Command.check("ip", ["netns", "add", name])
        #expect(
            opened.checkLiveness()?.description
                == "network namespace /run/netns/\(name) is gone: \(name) now names another namespace "
                + "(deleted and added again)")
        // Opened again by the name, the new one is live.
        #expect(try NetworkNamespace(name).checkLiveness() == nil)
    }
}
