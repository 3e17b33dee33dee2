import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `--netns` by name, path and pid, a namespace that does not exist, and one the user may not enter, on a
/// private namespace holding the known mix (with 700 extra pairs). (A non-root user: NamespacePermissionTests.)
@Suite("--netns", .cliMix(extraPairs: 700))
struct NamespaceCLITests {
    @Test("--netns by path and by pid scan the same namespace as by name, as ip netns exec ss sees it")
    func namespaceForms() throws {
        let fixture = try CLIFixture.require()
        let name = fixture.namespace.name
        let byName = try Binary.run(["count", "-ta", "--format", "json", "--netns", name])
        #expect(byName.status == 0, "\(byName)")
        var want = Dictionary(uniqueKeysWithValues: TCPState.allCases.map { ($0.name, 0) })
        want["total"] = fixture.mix.expected(.tcp).count
        for (state, n) in fixture.mix.counts(.tcp) { want[state.name] = n }
        #expect(try JSONSerialization.jsonObject(with: Data(byName.stdout.utf8)) as? [String: Int] == want)

        let byPath = try Binary.run(["count", "-ta", "--format", "json", "--netns", "/run/netns/\(name)"])
        #expect(byPath.status == 0 && byPath.stdout == byName.stdout, "\(byPath)")

        // A process inside the namespace: ip netns exec sets the namespace, then execs sleep (same pid).
        let pid = try Command.spawn("ip", ["netns", "exec", name, "sleep", "30"])
        defer { Command.stop(pid) }
        var target = stat()
        var seen = stat()
        try #require(stat("/run/netns/\(name)", &target) == 0)
        for _ in 0..<500 {
            if stat("/proc/\(pid)/ns/net", &seen) == 0 && seen.st_ino == target.st_ino { break }
            usleep(10_000)
        }
        try #require(seen.st_ino == target.st_ino, "ip netns exec did not enter \(name)")
        let byPID = try Binary.run(["count", "-ta", "--format", "json", "--netns", String(pid)])
        #expect(byPID.status == 0 && byPID.stdout == byName.stdout, "\(byPID)")
        let listByPID = try Binary.run(["list", "-tua", "-H", "--netns", String(pid)])
        let ss = try SSOracle(namespace: name).tuples(.all)
        expectSame(Set(tableTuples(listByPID)), Set(ss), "list --netns PID vs ip netns exec ss -tuanH")
    }

    @Test("a namespace that does not exist: exit 1, one line on stderr")
    func missingNamespace() throws {
        let result = try Binary.run(["list", "-ta", "--netns", "does-not-exist"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("does-not-exist"))
    }

    @Test(
        "a namespace that does not exist: every scanning command exits 1 with one line",
        arguments: [
            ["list"], ["count"], ["count", "--by", "dport"], ["summary"], ["ports"], ["list", "-p"],
        ])
    func missingNamespaceEverywhere(arguments: [String]) throws {
        let result = try Binary.run(arguments + ["--netns", "no-such-ns"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("/run/netns/no-such-ns") && result.stderr.contains("ip netns list"))
    }

    @Test(
        "without privilege to enter the namespace: exit 1, one line that says root is needed",
        arguments: [
            ["list"], ["count"], ["summary"], ["ports"],
        ])
    func namespaceWithoutPrivilege(arguments: [String]) throws {
        let fixture = try CLIFixture.require()
        guard let setpriv = try? Command.locate("setpriv") else { return }  // util-linux missing: nothing to drop to
        let result = try Command.run(
            setpriv,
            ["--reuid=65534", "--regid=65534", "--clear-groups", Binary.path] + arguments + [
                "--netns", fixture.namespace.name,
            ])
        #expect(result.status == 1, "\(result)")
        #expect(!result.signaled)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(fixture.namespace.name) && result.stderr.contains("root"), "\(result.stderr)")
    }
}
