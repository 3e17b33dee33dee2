import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan events` run as a user runs it, in a private namespace, against connections whose addresses and
/// ports a helper reports: every destroyed socket exactly once, in each format; the filter; the stops; the
/// summary; what the kernel drops under load.
@Suite("sockscan events", .serialized)
struct EventsCLITests {
    /// One destroyed socket as the tests compare them: protocol, family and both ends.
    struct Closed: Hashable, Comparable, CustomStringConvertible {
        var proto: String
        var family: String
        var local: String
        var remote: String

        var description: String { "\(proto) \(family) \(local) -> \(remote)" }
        static func < (a: Self, b: Self) -> Bool { a.description < b.description }

        /// `127.0.0.1:80`, `[::1]:80` (port 0 as `*`).
        static func endpoint(_ address: String, _ port: Int) -> String {
            (address.contains(":") ? "[\(address)]" : address) + ":" + (port == 0 ? "*" : String(port))
        }
    }

    /// Makes connections in `namespace` with Python and reports the sockets they leave, as `SIDE PROTO FAMILY
    /// LOCAL_ADDRESS LOCAL_PORT REMOTE_ADDRESS REMOTE_PORT` lines: a listener on 127.0.0.2:7301 and 20 IPv4
    /// connections to it (1000 bytes each, the client closes first), a listener on [::1]:7302 and 10 IPv6
    /// connections (the server closes first), and 3 UDP sockets (one IPv6). Everything is closed on exit.
    static let generator = """
        import socket
        def line(kind, s, proto):
            fam = 'inet6' if s.family == socket.AF_INET6 else 'inet'
            la, lp = s.getsockname()[:2]
            try:
                ra, rp = s.getpeername()[:2]
            except OSError:
                ra, rp = ('::' if fam == 'inet6' else '0.0.0.0'), 0
            print(kind, proto, fam, la, lp, ra, rp)
        for family, address, port, n, client_first in ((socket.AF_INET, '127.0.0.2', 7301, 20, True),
                                                        (socket.AF_INET6, '::1', 7302, 10, False)):
            l = socket.socket(family); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((address, port)); l.listen(64)
            for i in range(n):
                c = socket.socket(family); c.connect((address, port)); a, _ = l.accept()
                c.sendall(b'x' * 1000); got = 0
                while got < 1000: got += len(a.recv(4096))
                line('client', c, 'tcp'); line('server', a, 'tcp')
                first, second = (c, a) if client_first else (a, c)
                first.close(); second.close()
            line('listener', l, 'tcp'); l.close()
        for family, address in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
            u = socket.socket(family, socket.SOCK_DGRAM); u.bind((address, 0))
            line('udp', u, 'udp'); u.close()
        """

    /// The sockets the generator reported, by its first word.
    struct Made {
        var lines: [(kind: String, closed: Closed)] = []
        func all(_ kinds: Set<String> = ["client", "server", "listener", "udp"]) -> [Closed] {
            lines.filter { kinds.contains($0.kind) }.map(\.closed)
        }
    }

    /// Runs the generator in `namespace`.
    static func makeConnections(_ namespace: TestNamespace) throws -> Made {
        let result = try namespace.exec("python3", ["-c", generator], timeout: 60)
        try #require(result.status == 0, "generator: \(result)")
        var made = Made()
        for line in result.lines {
            let w = line.split(separator: " ").map(String.init)
            try #require(w.count == 7, "generator line '\(line)'")
            made.lines.append(
                (
                    w[0],
                    Closed(
                        proto: w[1], family: w[2], local: Closed.endpoint(w[3], Int(w[4])!),
                        remote: Closed.endpoint(w[5], Int(w[6])!))
                ))
        }
        #expect(made.lines.count == 20 * 2 + 10 * 2 + 2 + 3)
        return made
    }

    /// Whether a process has joined a sock_diag multicast group in `namespace` (`/proc/net/netlink`: protocol
    /// 4, groups not 0): `sockscan events` is then receiving.
    static func subscribed(_ namespace: TestNamespace) throws -> Bool {
        try namespace.run {
            let text = (try? String(contentsOfFile: "/proc/thread-self/net/netlink", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").dropFirst().contains { line in
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                return f.count > 3 && f[1] == "4" && (UInt32(f[3], radix: 16) ?? 0) != 0
            }
        }
    }

    /// The messages the kernel dropped for the subscribed sock_diag sockets in `namespace` (the Drops column of
    /// /proc/net/netlink).
    static func drops(_ namespace: TestNamespace) throws -> Int {
        try namespace.run {
            let text = (try? String(contentsOfFile: "/proc/thread-self/net/netlink", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").dropFirst().reduce(0) { sum, line in
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count > 8, f[1] == "4", (UInt32(f[3], radix: 16) ?? 0) != 0 else { return sum }
                return sum + (Int(f[8]) ?? 0)
            }
        }
    }

    /// Starts `sockscan events --netns NAME arguments…` and waits (at most 10 s) until it receives.
    static func start(_ namespace: TestNamespace, _ arguments: [String]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(SockscanBinary.path, ["events", "--netns", namespace.name] + arguments)
        for _ in 0..<1000 where process.isRunning {
            if try subscribed(namespace) { return process }
            usleep(10_000)
        }
        throw CommandError("sockscan events did not subscribe within 10 s: \(process.stderr)")
    }

    /// Waits (at most `timeout` s) until `process` has written `lines` lines or ended.
    static func waitForLines(_ process: BackgroundProcess, _ lines: Int, timeout: Double = 20) {
        for _ in 0..<Int(timeout * 100) where process.isRunning {
            if process.stdout.split(separator: "\n").count >= lines { return }
            usleep(10_000)
        }
    }

    /// Waits (at most 30 s) until `process` ends by itself, and returns its status; kills it otherwise.
    static func waitForExit(_ process: BackgroundProcess) -> Int32? {
        for _ in 0..<3000 where process.isRunning { usleep(10_000) }
        return process.stop(SIGKILL, grace: 1)
    }

    /// The summary line's numbers: `sockscan events: N events in S s (R/s), D dropped by the kernel (receive
    /// buffer full)`.
    static func summary(_ stderr: String) -> (events: Int, dropped: Int)? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.hasPrefix("sockscan events: ") }),
            let match = line.wholeMatch(
                of:
                    /sockscan events: (\d+) events in \d+\.\d\d s \(\d+\.\d\/s\), (\d+) dropped by the kernel \(receive buffer full\)/
            )
        else { return nil }
        return (Int(match.1)!, Int(match.2)!)
    }

    static func json(_ line: some StringProtocol) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// Seconds since 1970 of an RFC 3339 UTC time with microseconds (`2026-05-01T14:25:03.123456Z`).
    static func seconds(rfc3339 text: String) -> Double? {
        guard
            let m = text.wholeMatch(of: /(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z/)
        else { return nil }
        var t = tm()
        t.tm_year = Int32(m.1)! - 1900
        t.tm_mon = Int32(m.2)! - 1
        t.tm_mday = Int32(m.3)!
        t.tm_hour = Int32(m.4)!
        t.tm_min = Int32(m.5)!
        t.tm_sec = Int32(m.6)!
        return Double(timegm(&t)) + Double(Int(m.7)!) / 1e6
    }

    static let jsonKeys: Set<String> = [
        "event", "time", "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port",
        "recv_q", "send_q", "uid", "inode", "cookie", "interface", "timer",
    ]

    @Test(
        "NDJSON: every destroyed socket once (both sides, listeners, UDP), list's fields plus event and time; --count stops"
    )
    func json() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let before = Date().timeIntervalSince1970
        let events = try Self.start(namespace, ["-tu", "-i", "--format", "json", "--count", "65", "--duration", "60s"])
        let made = try Self.makeConnections(namespace)
        let status = Self.waitForExit(events)
        let after = Date().timeIntervalSince1970
        #expect(status == 0, "\(events.stderr)")
        var seen: [Closed] = []
        for line in events.stdout.split(separator: "\n") {
            let object = try #require(Self.json(line), "not JSON: \(line)")
            #expect(Set(object.keys) == Self.jsonKeys.union(object["proto"] as? String == "tcp" ? ["tcp_info"] : []))
            #expect(object["event"] as? String == "destroy")
            #expect(object["state"] as? String == "close")
            let time = try #require(Self.seconds(rfc3339: object["time"] as? String ?? ""), "time: \(line)")
            #expect(time >= before - 1 && time <= after + 1, "\(line)")
            let closed = Closed(
                proto: object["proto"] as? String ?? "?", family: object["family"] as? String ?? "?",
                local: Closed.endpoint(object["local_address"] as? String ?? "?", object["local_port"] as? Int ?? -1),
                remote: Closed.endpoint(
                    object["remote_address"] as? String ?? "?", object["remote_port"] as? Int ?? -1))
            seen.append(closed)
            // A client of 127.0.0.2:7301 sent 1000 bytes: its final tcp_info says they were acknowledged (the
            // kernel counts SYN and FIN too).
            if closed.remote == "127.0.0.2:7301", let info = object["tcp_info"] as? [String: Any] {
                #expect((1000...1002).contains(info["bytes_acked"] as? Int ?? 0), "\(line)")
            }
        }
        #expect(seen.count == 65)
        #expect(seen.sorted() == made.all().sorted())
        #expect(Self.summary(events.stderr).map { [$0.events, $0.dropped] } == [65, 0], "\(events.stderr)")
    }

    @Test("table: a Time column, then the list table (Netid with -tu); one row per destroyed socket")
    func table() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let events = try Self.start(namespace, ["-tu", "--count", "65", "--duration", "60s"])
        let made = try Self.makeConnections(namespace)
        #expect(Self.waitForExit(events) == 0, "\(events.stderr)")
        let lines = events.stdout.split(separator: "\n")
        try #require(lines.count == 66, "\(events.stdout)")
        #expect(
            lines[0].split(separator: " ") == [
                "Time", "Netid", "State", "Recv-Q", "Send-Q", "Local", "Address:Port",
                "Peer", "Address:Port",
            ])
        var seen: [Closed] = []
        for line in lines.dropFirst() {
            let f = line.split(separator: " ").map(String.init)
            try #require(f.count == 7, "row '\(line)'")
            #expect(f[0].wholeMatch(of: /\d\d:\d\d:\d\d\.\d{6}/) != nil, "\(line)")
            #expect(f[2] == "UNCONN", "\(line)")
            let family = f[5].hasPrefix("[") ? "inet6" : "inet"
            seen.append(Closed(proto: f[1], family: family, local: f[5], remote: f[6]))
        }
        #expect(seen.sorted() == made.all().sorted())
    }

    @Test("CSV: event,time, then list's columns; one line per destroyed socket")
    func csv() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let events = try Self.start(namespace, ["-tu", "--format", "csv", "--count", "65", "--duration", "60s"])
        let made = try Self.makeConnections(namespace)
        #expect(Self.waitForExit(events) == 0, "\(events.stderr)")
        let lines = events.stdout.split(separator: "\n")
        try #require(lines.count == 66, "\(events.stdout)")
        #expect(
            lines[0]
                == "event,time,proto,family,state,local_address,local_port,remote_address,remote_port,recv_q,send_q,"
                + "uid,inode,cookie,interface")
        var seen: [Closed] = []
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            try #require(f.count == 15, "line '\(line)'")
            #expect(f[0] == "destroy" && f[4] == "close", "\(line)")
            #expect(Self.seconds(rfc3339: f[1]) != nil, "\(line)")
            seen.append(
                Closed(
                    proto: f[2], family: f[3], local: Closed.endpoint(f[5], Int(f[6]) ?? -1),
                    remote: Closed.endpoint(f[7], Int(f[8]) ?? -1)))
        }
        #expect(seen.sorted() == made.all().sorted())
    }

    @Test("a filter keeps only the matching events; SIGTERM stops with the summary and exit 0")
    func filterAndSIGTERM() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let events = try Self.start(namespace, ["--format", "json", "dport = :7301 or sport = :7302"])
        let made = try Self.makeConnections(namespace)
        // The client sides of the IPv4 connections, the server sides of the IPv6 ones and that listener.
        let expected = made.lines.filter { line in
            line.closed.remote.hasSuffix(":7301") || line.closed.local.hasSuffix(":7302")
        }.map(\.closed)
        #expect(expected.count == 20 + 10 + 1)
        Self.waitForLines(events, expected.count)
        // Anything else the kernel reported would have arrived with these: give it a moment to show.
        usleep(300_000)
        let status = events.stop(SIGTERM, grace: 10)
        #expect(status == 0, "\(events.stderr)")
        let seen = events.stdout.split(separator: "\n").compactMap { line -> Closed? in
            guard let o = Self.json(line) else { return nil }
            return Closed(
                proto: o["proto"] as? String ?? "?", family: o["family"] as? String ?? "?",
                local: Closed.endpoint(o["local_address"] as? String ?? "?", o["local_port"] as? Int ?? -1),
                remote: Closed.endpoint(o["remote_address"] as? String ?? "?", o["remote_port"] as? Int ?? -1))
        }
        #expect(seen.sorted() == expected.sorted())
        let lines = events.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(events.stderr)")
        #expect(Self.summary(events.stderr).map { [$0.events, $0.dropped] } == [31, 0], "\(events.stderr)")
    }

    @Test("--duration stops by itself, with the summary")
    func duration() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let result = try SockscanBinary.run(["events", "--netns", namespace.name, "-H", "--duration", "300ms"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(Self.summary(result.stderr).map { [$0.events, $0.dropped] } == [0, 0], "\(result.stderr)")
    }

    @Test(
        "a filter that tests state or autobound is a usage error saying why",
        arguments: [
            ["state", "established"], ["exclude", "time-wait"], ["dport", "=", ":80", "and", "state", "close"],
            ["autobound"],
        ])
    func refusedFilter(filter: [String]) throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let result = try SockscanBinary.run(["events", "--netns", namespace.name] + filter)
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty)
        let reason =
            filter == ["autobound"]
            ? "a filter of destroyed sockets cannot test 'autobound' (only a dump can)"
            : "a filter of destroyed sockets cannot test 'state': every destroyed socket is in state close"
        #expect(result.stderr.hasPrefix("Error: \(reason)\nUsage: sockscan events "), "\(result.stderr)")
    }

    @Test("usage errors: --count, --receive-buffer, -4 with -6")
    func usage() throws {
        for (arguments, message) in [
            (["--count", "0"], "--count must be at least 1 (got 0)"),
            (
                ["--receive-buffer", "12Q"],
                "--receive-buffer '12Q' is not a size; expected bytes, or with K, M or G (64K, 8M)"
            ),
            (["--receive-buffer", "2G"], "--receive-buffer '2G' must be from 4K to 1G"),
            (["--duration", "0"], "must be more than 0"),
            (["-4", "-6"], "-4 and -6 exclude each other; give neither for both families"),
        ] {
            let result = try SockscanBinary.run(["events"] + arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }

    @Test("any user may watch: a process without capabilities receives the events of the namespace")
    func unprivileged() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // setpriv inside `ip netns exec`: the namespace is entered as root, then every capability dropped.
        let events = try BackgroundProcess(
            "ip",
            [
                "netns", "exec", namespace.name, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=-all", SockscanBinary.path, "events", "--format", "json", "--count", "60",
                "--duration", "60s",
            ])
        for _ in 0..<1000 where events.isRunning {
            if try Self.subscribed(namespace) { break }
            usleep(10_000)
        }
        let made = try Self.makeConnections(namespace)
        #expect(Self.waitForExit(events) == 0, "\(events.stderr)")
        let uids = events.stdout.split(separator: "\n").compactMap { Self.json($0)?["uid"] as? Int }
        #expect(uids.count == 60)
        #expect(Set(uids) == [0], "root's sockets, seen by nobody")
        #expect(made.all(["client", "server", "listener"]).count == 62)
    }

    @Test(
        "a receive buffer too small for a burst: the kernel's drops are reported live and in the summary, exit 2, and events + dropped is exact"
    )
    func overrun() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let events = try Self.start(namespace, ["-u", "-H", "--receive-buffer", "4K"])
        let burst = try namespace.exec(
            "python3",
            [
                "-c",
                """
                import socket
                for i in range(10000):
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0)); u.close()
                """,
            ], timeout: 60)
        #expect(burst.status == 0, "\(burst)")
        // Destroy events come from a kernel work queue and can still arrive after the burst has ended: wait
        // (at most 20 s) until the lines written and the socket's drops in /proc account for every close.
        for _ in 0..<2000 where events.isRunning {
            if try events.stdout.split(separator: "\n").count + Self.drops(namespace) >= 10000 { break }
            usleep(10_000)
        }
        let status = events.stop(SIGTERM, grace: 10)
        #expect(status == 2, "\(events.stderr)")
        let summary = try #require(Self.summary(events.stderr), "\(events.stderr)")
        #expect(summary.events == events.stdout.split(separator: "\n").count)
        #expect(summary.dropped > 0)
        #expect(summary.events + summary.dropped == 10000, "\(events.stderr)")
        #expect(
            events.stderr.contains("sockscan events: the kernel dropped "),
            "a warning while it ran: \(events.stderr)")
    }

    @Test(
        "thousands of closes a second for a few seconds: every socket is an event, or the dropped count makes up the difference"
    )
    func churn() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let events = try Self.start(namespace, ["-H"])
        let churn = try ConnectionChurn(
            in: namespace,
            destinations: [
                ConnectionChurn.Destination(
                    Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7311), perSecond: 3000,
                    close: .clientFirst),
                ConnectionChurn.Destination(
                    Endpoint(address: .v6(.loopback), port: 7312), perSecond: 2000, close: .serverFirst),
            ], limit: 20_000, maxSeconds: 4)
        // The generator stops itself after 20,000 connections or 4 s.
        for _ in 0..<600 where churn.made < 20_000 { usleep(10_000) }
        let report = churn.stop()  // closes the two listeners too
        #expect(report.failure == nil, "\(report)")
        let expected = 2 * report.total + 2
        Self.waitForLines(events, expected, timeout: 30)
        usleep(300_000)
        let status = events.stop(SIGTERM, grace: 10)
        let summary = try #require(Self.summary(events.stderr), "\(events.stderr)")
        #expect(summary.events == events.stdout.split(separator: "\n").count)
        #expect(summary.events + summary.dropped == expected, "\(report); \(events.stderr)")
        #expect(status == (summary.dropped == 0 ? 0 : 2))
        print("events under churn: \(report); \(summary.events) events, \(summary.dropped) dropped")
    }
}
