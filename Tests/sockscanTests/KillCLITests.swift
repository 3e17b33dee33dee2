import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan kill` run as a user runs it, in a private namespace holding known connections: it closes
/// exactly what `list` shows for the same filter (their peers see a reset), nothing else; `--dry-run`
/// changes nothing; an empty filter, `-l` and unnamed listeners are refused.
@Suite("sockscan kill", .serialized)
struct KillCLITests {
    /// Holds, in the namespace: listeners on 127.0.0.1:7401 (20 connections), 127.0.0.1:7402 (5) and [::1]:7403
    /// (3), and one TIME-WAIT socket to 127.0.0.1:7404 (its client closed first). Prints `socket KIND LOCAL
    /// REMOTE` for each held socket, then waits for the file `argv[1]`; then `recv LOCAL REMOTE RESULT` for each
    /// connected socket: `OPEN` (nothing to read), or the errno name a non-blocking recv failed with.
    static let holder = """
        import socket, sys, os, time, errno
        def text(a):
            return ('[%s]:%d' % a[:2]) if ':' in a[0] else ('%s:%d' % a[:2])
        held = []
        for family, address, port, n in ((socket.AF_INET, '127.0.0.1', 7401, 20),
                                         (socket.AF_INET, '127.0.0.1', 7402, 5), (socket.AF_INET6, '::1', 7403, 3)):
            l = socket.socket(family); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((address, port)); l.listen(64)
            held.append(('listener', l, text(l.getsockname()), '*'))
            for i in range(n):
                c = socket.socket(family); c.connect((address, port)); a, _ = l.accept()
                held.append(('client', c, text(c.getsockname()), text(c.getpeername())))
                held.append(('server', a, text(a.getsockname()), text(a.getpeername())))
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(('127.0.0.1', 7404)); l.listen(1)
        c = socket.create_connection(('127.0.0.1', 7404)); a, _ = l.accept(); c.close(); a.close(); l.close()
        for kind, s, local, remote in held:
            print('socket', kind, local, remote)
        sys.stdout.flush()
        for i in range(6000):
            if os.path.exists(sys.argv[1]): break
            time.sleep(0.01)
        for kind, s, local, remote in held:
            if kind == 'listener': continue
            s.setblocking(False)
            try:
                r = 'EOF' if s.recv(1) == b'' else 'DATA'
            except BlockingIOError:
                r = 'OPEN'
            except OSError as e:
                r = errno.errorcode.get(e.errno, str(e.errno))
            print('recv', local, remote, r)
        """

    /// The holder, running until ``finish()``.
    final class Holder {
        let process: BackgroundProcess
        let trigger: String

        init(_ namespace: TestNamespace) throws {
            trigger = "/tmp/sockscan-kill-\(getpid())-\(UUID().uuidString)"
            process = try BackgroundProcess("ip", ["netns", "exec", namespace.name, "python3", "-c", holder, trigger])
            // Bounded at 30 s: python3's first start on a cold CI disk can take seconds.
            for _ in 0..<3000 where process.isRunning {
                if process.stdout.split(separator: "\n").count == 3 + 2 * 28 { break }
                usleep(10_000)
            }
            try #require(process.stdout.split(separator: "\n").count == 59, "holder: \(process.stderr)")
        }

        /// Lets the holder try each socket and returns what recv said, by `LOCAL REMOTE`.
        func finish() throws -> [String: String] {
            FileManager.default.createFile(atPath: trigger, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: trigger) }
            for _ in 0..<2000 where process.isRunning { usleep(10_000) }
            #expect(process.stop() == 0, "holder: \(process.stderr)")
            var results: [String: String] = [:]
            for line in process.stdout.split(separator: "\n") where line.hasPrefix("recv ") {
                let f = line.split(separator: " ")
                results["\(f[1]) \(f[2])"] = String(f[3])
            }
            return results
        }

        deinit { try? FileManager.default.removeItem(atPath: trigger) }
    }

    /// A socket as the tests compare them: protocol, family, state and both ends, as `list` prints them.
    struct Tuple: Hashable, Comparable, CustomStringConvertible {
        var proto: String
        var family: String
        var state: String
        var local: String
        var remote: String

        var description: String { "\(proto) \(family) \(state) \(local) -> \(remote)" }
        static func < (a: Self, b: Self) -> Bool { a.description < b.description }
        /// The other end of the connection: the same line seen from there.
        var peer: Tuple { Tuple(proto: proto, family: family, state: state, local: remote, remote: local) }
    }

    /// The NDJSON lines of `stdout` as tuples.
    static func tuples(_ stdout: String) throws -> Set<Tuple> {
        var set: Set<Tuple> = []
        for line in stdout.split(separator: "\n") {
            let o = try #require(
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any], "not JSON: \(line)")
            func endpoint(_ side: String) -> String {
                let address = o["\(side)_address"] as? String ?? "?"
                let port = o["\(side)_port"] as? Int ?? -1
                return (address.contains(":") ? "[\(address)]" : address) + ":" + (port == 0 ? "*" : String(port))
            }
            set.insert(
                Tuple(
                    proto: o["proto"] as? String ?? "?", family: o["family"] as? String ?? "?",
                    state: o["state"] as? String ?? "?", local: endpoint("local"), remote: endpoint("remote")))
        }
        return set
    }

    /// `sockscan list --netns NAME --format json arguments…` as tuples.
    static func list(_ namespace: TestNamespace, _ arguments: [String]) throws -> Set<Tuple> {
        let result = try SockscanBinary.run(["list", "--netns", namespace.name, "--format", "json"] + arguments)
        try #require(result.status == 0 && result.stderr.isEmpty, "list \(arguments): \(result)")
        return try tuples(result.stdout)
    }

    /// `sockscan kill --netns NAME arguments…`.
    static func kill(_ namespace: TestNamespace, _ arguments: [String]) throws -> CommandResult {
        try SockscanBinary.run(["kill", "--netns", namespace.name] + arguments)
    }

    @Test("kill closes exactly what list shows for the filter; their peers see a reset; nothing else changes")
    func closesWhatListShows() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try Holder(namespace)
        let before = try Self.list(namespace, ["-ta"])
        let listed = try Self.list(namespace, ["dport = :7401"])
        #expect(listed.count == 20)
        let result = try Self.kill(namespace, ["--format", "json", "dport = :7401"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr == "sockscan kill: 20 matched: 20 closed, 0 gone, 0 refused\n")
        #expect(try Self.tuples(result.stdout) == listed)
        // The closed clients are gone, and so are their server ends (reset); the rest is as it was.
        // The peers take the reset in softirq, which a loaded machine may defer: bounded, a few list runs.
        let expected = before.subtracting(listed).subtracting(listed.map(\.peer))
        var after = try Self.list(namespace, ["-ta"])
        for _ in 0..<100 where after != expected {
            usleep(50_000)
            after = try Self.list(namespace, ["-ta"])
        }
        #expect(after.sorted() == expected.sorted(), "\(after.symmetricDifference(expected).sorted())")
        let recv = try holder.finish()
        #expect(recv.count == 2 * 28)
        for (key, outcome) in recv {
            let remote = key.split(separator: " ")[1]
            let local = key.split(separator: " ")[0]
            // The killed socket's owner reads ECONNABORTED; its peer the reset, ECONNRESET.
            let want = remote == "127.0.0.1:7401" ? "ECONNABORTED" : local == "127.0.0.1:7401" ? "ECONNRESET" : "OPEN"
            #expect(outcome == want, "\(key)")
        }
    }

    @Test("--dry-run prints the list table for the filter and changes nothing")
    func dryRun() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try Holder(namespace)
        let before = try Self.list(namespace, ["-ta"])
        let table = try SockscanBinary.run(["list", "--netns", namespace.name, "-tu", "dport = :7402 or dport = :7403"])
        let dry = try Self.kill(namespace, ["--dry-run", "-tu", "dport = :7402 or dport = :7403"])
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout == table.stdout)
        #expect(dry.stdout.split(separator: "\n").count == 1 + 8)
        #expect(dry.stderr == "sockscan kill: dry run: 8 matched, would be closed; nothing closed\n")
        let json = try Self.kill(namespace, ["--dry-run", "--format", "json", "dport = :7402"])
        #expect(try Self.tuples(json.stdout) == Self.list(namespace, ["dport = :7402"]))
        #expect(try Self.list(namespace, ["-ta"]) == before)
        #expect(try holder.finish().values.allSatisfy { $0 == "OPEN" })
    }

    @Test("no filter, -l and --proc are usage errors that say why; nothing is closed")
    func refused() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try Holder(namespace)
        let before = try Self.list(namespace, ["-ta"])
        for (arguments, message) in [
            (
                [],
                "kill needs a filter saying which sockets to close (dst 10.0.0.5, dport = :443, state close-wait, "
                    + "...); to close every connected socket, say so: sockscan kill state connected"
            ),
            (["-a"], "kill needs a filter"),
            (
                ["-l", "sport = :7401"],
                "kill does not take -l: it closes listening sockets only when the filter names them"
            ),
            (["--proc", "dport = :7401"], "kill does not take --proc: closing sockets needs sock_diag (SOCK_DESTROY)"),
        ] {
            let result = try Self.kill(namespace, arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.hasPrefix("Error: \(message)"), "\(arguments): \(result.stderr)")
        }
        #expect(try Self.list(namespace, ["-ta"]) == before)
        _ = try holder.finish()
    }

    @Test("listeners stay open unless the filter says state listen; -a closes TIME-WAIT too")
    func listeners() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try Holder(namespace)
        let listener = Tuple(
            proto: "tcp", family: "inet", state: "listen", local: "127.0.0.1:7402", remote: "0.0.0.0:*")
        // -a: every state but listen; the listener that matched is named in the note.
        let all = try Self.kill(namespace, ["-a", "--format", "json", "sport = :7402"])
        #expect(all.status == 0, "\(all)")
        #expect(
            all.stderr == "sockscan kill: 5 matched: 5 closed, 0 gone, 0 refused; 1 listening left open (kill closes "
                + "listeners only when the filter says state listen)\n")
        #expect(try Self.tuples(all.stdout).map(\.state) == Array(repeating: "established", count: 5))
        #expect(try Self.list(namespace, ["-ta", "sport = :7402"]) == [listener])
        // state all and exclude name no state in words: the same.
        let stateAll = try Self.kill(namespace, ["state all sport = :7402"])
        #expect(
            stateAll.stderr.hasSuffix(
                "0 matched: 0 closed, 0 gone, 0 refused; 1 listening left open (kill closes "
                    + "listeners only when the filter says state listen)\n"), "\(stateAll)")
        let exclude = try Self.kill(namespace, ["exclude established sport = :7402"])
        #expect(
            exclude.stderr.hasSuffix(
                "; 1 listening left open (kill closes listeners only when the filter says "
                    + "state listen)\n"), "\(exclude)")
        #expect(try Self.list(namespace, ["-ta", "sport = :7402"]) == [listener])
        // Named: closed.
        let named = try Self.kill(namespace, ["--format", "json", "state listen sport = :7402"])
        #expect(named.stderr == "sockscan kill: 1 matched: 1 closed, 0 gone, 0 refused\n", "\(named)")
        #expect(try Self.tuples(named.stdout) == [listener])
        #expect(try Self.list(namespace, ["-ta", "sport = :7402"]).isEmpty)
        // TIME-WAIT: the kernel removes it too (a port freed at once).
        let timeWait = try Self.kill(namespace, ["state time-wait dport = :7404"])
        #expect(timeWait.stderr == "sockscan kill: 1 matched: 1 closed, 0 gone, 0 refused\n", "\(timeWait)")
        #expect(try Self.list(namespace, ["-ta", "dport = :7404"]).isEmpty)
        // The other listeners and connections are untouched.
        #expect(try Self.list(namespace, ["-ta", "sport = :7401"]).count == 21)
        _ = try holder.finish()
    }

    @Test("without CAP_NET_ADMIN: the error names the capability, exit 1, nothing closed; --dry-run needs none")
    func unprivileged() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try Holder(namespace)
        let before = try Self.list(namespace, ["-ta"])
        func asNobody(_ arguments: [String]) throws -> CommandResult {
            try namespace.exec(
                "setpriv",
                ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", SockscanBinary.path, "kill"]
                    + arguments)
        }
        let result = try asNobody(["dport = :7402"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stdout == "")
        #expect(
            result.stderr
                == "sockscan: closing sockets needs CAP_NET_ADMIN: the kernel refused SOCK_DESTROY (Operation not "
                + "permitted, EPERM); run it as root, or see what would be closed with --dry-run\n")
        let dry = try asNobody(["--dry-run", "-H", "dport = :7402"])
        #expect(dry.status == 0, "\(dry)")
        #expect(dry.stdout.split(separator: "\n").count == 5)
        #expect(try Self.list(namespace, ["-ta"]) == before)
        #expect(try holder.finish().values.allSatisfy { $0 == "OPEN" })
    }
}
