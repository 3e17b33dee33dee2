import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Formats, processes, namespaces, `count --by`, `summary`, help and usage errors, on the suite's mix.
extension CLITests {
    /// The CSV columns without optional fields (JSON's flat fields).
    static let csvBaseColumns = [
        "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
        "send_q", "uid", "inode", "cookie", "interface",
    ]

    /// Parses JSON lines into objects, recording lines that are not objects.
    func jsonObjects(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        result.lines.compactMap { line in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not a JSON object: \(line)", sourceLocation: sourceLocation)
            return object
        }
    }

    /// The tuple of a JSON socket object or a CSV row (as a dictionary of strings or numbers).
    func tuple(_ object: [String: Any]) -> SocketTuple? {
        func text(_ key: String) -> String? {
            if let s = object[key] as? String { return s }
            return (object[key] as? NSNumber)?.stringValue
        }
        guard let proto = text("proto").flatMap({ ["tcp": TransportProtocol.tcp, "udp": .udp][$0] }),
            let family = text("family").flatMap({ ["inet": AddressFamily.inet, "inet6": .inet6][$0] }),
            let state = text("state").flatMap({ TCPState(name: $0) }),
            let local = text("local_address").flatMap({ IPAddress($0) }),
            let localPort = text("local_port").flatMap({ UInt16($0) }),
            let remote = text("remote_address").flatMap({ IPAddress($0) }),
            let remotePort = text("remote_port").flatMap({ UInt16($0) })
        else { return nil }
        return SocketTuple(
            proto: proto, family: family, state: state, local: Endpoint(address: local, port: localPort),
            remote: Endpoint(address: remote, port: remotePort))
    }

    // MARK: formats

    @Test("list --format csv: a header row, the same column count on every row, the sockets made")
    func listCSV() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("list", ["-tua", "--format", "csv"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.isEmpty)
        let rows = CSV.parse(result.stdout)
        let header = try #require(rows.first)
        #expect(header == Self.csvBaseColumns)
        var tuples: [SocketTuple] = []
        for row in rows.dropFirst() {
            #expect(row.count == header.count, "\(row)")
            guard row.count == header.count, let t = tuple(Dictionary(uniqueKeysWithValues: zip(header, row))) else {
                Issue.record("bad row \(row)")
                continue
            }
            tuples.append(t)
        }
        #expect(Set(tuples).count == tuples.count)
        expectSame(Set(tuples), fixture.mix.expected, "list --format csv vs the mix")

        let bare = try fixture.sockscan("list", ["-tua", "--format", "csv", "-H"])
        #expect(bare.status == 0 && !bare.stdout.hasPrefix("proto,"))
        #expect(bare.lines.count == tuples.count, "-H drops the header row")
    }

    @Test(
        "every format parses with every option",
        arguments: [["-e"], ["-i"], ["-m"], ["-p"], ["-e", "-i", "-m", "-p"]])
    func formatsWithOptions(options: [String]) throws {
        let fixture = try CLIFixture.require()
        let count = fixture.mix.expected.count

        let json = try fixture.sockscan("list", ["-tua", "--format", "json"] + options)
        #expect(json.status == 0 && json.stderr.isEmpty, "\(json)")
        let objects = jsonObjects(json)
        #expect(objects.count == count)
        for object in objects {
            let state = object["state"] as? String
            let isTCP = object["proto"] as? String == "tcp"
            if options.contains("-i") && isTCP && state == "established" {
                let info = object["tcp_info"] as? [String: Any]
                #expect(info?["rtt_us"] is NSNumber && info?["cwnd"] is NSNumber, "no tcp_info: \(object)")
            }
            if !options.contains("-i") { #expect(object["tcp_info"] == nil) }
            if options.contains("-m") && state != "time-wait" {
                let memory = object["memory"] as? [String: Any]
                #expect(memory?["rcvbuf"] is NSNumber && memory?["sndbuf"] is NSNumber, "no memory: \(object)")
            }
            if !options.contains("-m") { #expect(object["memory"] == nil) }
            if options.contains("-p") && state != "time-wait" {
                #expect(object["process"] != nil, "no process: \(object)")
            }
            if !options.contains("-p") { #expect(object["process"] == nil) }
        }

        let csv = try fixture.sockscan("list", ["-tua", "--format", "csv"] + options)
        #expect(csv.status == 0 && csv.stderr.isEmpty, "\(csv)")
        let rows = CSV.parse(csv.stdout)
        #expect(rows.count == count + 1)
        let header = rows.first ?? []
        #expect(Array(header.prefix(Self.csvBaseColumns.count)) == Self.csvBaseColumns)
        if options.contains("-p") { #expect(header.suffix(3) == ["pid", "comm", "fd"]) }
        if options.contains("-i") { #expect(header.contains("tcp_info.rtt_us")) }
        if options.contains("-m") { #expect(header.contains("memory.rcvbuf")) }
        if options.contains("-e") { #expect(header.contains("timer.kind")) }
        for row in rows.dropFirst() { #expect(row.count == header.count, "\(row) vs \(header)") }

        let table = try fixture.sockscan("list", ["-tua", "-H"] + options)
        #expect(table.status == 0 && table.stderr.isEmpty, "\(table)")
        #expect(table.lines.count == count)
        if options.contains("-e") {
            for line in table.lines {
                #expect(line.contains(" uid:") && line.contains(" ino:") && line.contains(" sk:"))
            }
        }
    }

    // MARK: processes

    /// `("comm",pid=N,fd=M)` entries of a `users:(…)` column.
    static func users(_ line: some StringProtocol) -> Set<SocketProcess> {
        let text = String(line)
        guard let start = text.range(of: "users:(") else { return [] }
        var owners: Set<SocketProcess> = []
        let pattern = /\("([^"]*)",pid=([0-9]+),fd=([0-9]+)\)/
        for match in text[start.upperBound...].matches(of: pattern) {
            owners.insert(SocketProcess(pid: Int32(match.2)!, comm: String(match.1), fd: Int32(match.3)!))
        }
        return owners
    }

    /// A table row without its `users:(…)` column, for the tuple parser.
    static func withoutUsers(_ line: some StringProtocol) -> String {
        let text = String(line)
        guard let start = text.range(of: "users:(") else { return text }
        return String(text[..<start.lowerBound])
    }

    @Test("list -p agrees with ss -tuanp, and names this test process with the right fds")
    func processesAgreeWithSS() throws {
        let fixture = try CLIFixture.require()
        let me = getpid()
        let result = try fixture.sockscan("list", ["-tua", "-H", "-p"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result)")
        var mine: [SocketTuple: Set<SocketProcess>] = [:]
        for line in result.lines {
            guard let t = SSOracle.parse(Self.withoutUsers(line), proto: nil, state: nil) else {
                Issue.record("unparsable row: \(line)")
                continue
            }
            // Children spawned while the mix was open may hold inherited copies: compare this process's.
            mine[t] = Self.users(line).filter { $0.pid == me }
        }
        let ss = try fixture.namespace.exec("ss", ["-tuanpH"])
        #expect(ss.status == 0, "\(ss)")
        var theirs: [SocketTuple: Set<SocketProcess>] = [:]
        for line in ss.lines {
            guard let t = SSOracle.parse(Self.withoutUsers(line), proto: nil, state: nil) else {
                Issue.record("unparsable ss row: \(line)")
                continue
            }
            theirs[t] = Self.users(line).filter { $0.pid == me }
        }
        expectSame(Set(mine.keys), Set(theirs.keys), "list -p rows vs ss -tuanp rows")
        var disagreements: [String] = []
        for (t, owners) in theirs where mine[t] != owners {
            disagreements.append("\(t): sockscan \(mine[t] ?? []) ss \(owners)")
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10).joined(separator: "\n"))")

        // Every socket the mix holds open is this process's, at a descriptor whose inode is the socket's.
        let comm = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        var problems: [String] = []
        for (t, inode) in fixture.mix.inodes {
            let owners = mine[t] ?? []
            if owners.isEmpty { problems.append("\(t): no owner") }
            for owner in owners {
                var st = stat()
                if owner.comm != comm || fstat(owner.fd, &st) != 0 || UInt32(truncatingIfNeeded: st.st_ino) != inode {
                    problems.append("\(t): \(owner) is not inode \(inode)")
                }
            }
        }
        for t in fixture.mix.expected where t.state == .timeWait {
            if mine[t]?.isEmpty == false { problems.append("\(t): a TIME_WAIT socket has an owner") }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n"))")
    }

    @Test("list -p --format json: process objects name this process and the socket's descriptor")
    func processesJSON() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("list", ["-tua", "-p", "--format", "json"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result)")
        var problems: [String] = []
        for object in jsonObjects(result) {
            guard let t = tuple(object), let inode = (object["inode"] as? NSNumber)?.uint32Value else { continue }
            let entries: [[String: Any]]
            if let one = object["process"] as? [String: Any] {
                entries = [one]
            } else if let many = object["process"] as? [[String: Any]] {
                entries = many
                if many.count < 2 { problems.append("\(t): an array for one owner") }
            } else {
                if t.state != .timeWait { problems.append("\(t): no process") }
                continue
            }
            let mine = entries.filter { ($0["pid"] as? NSNumber)?.int32Value == getpid() }
            guard let fd = (mine.first?["fd"] as? NSNumber)?.int32Value, mine.first?["comm"] is String else {
                problems.append("\(t): not this process: \(entries)")
                continue
            }
            var st = stat()
            if fstat(fd, &st) != 0 || UInt32(truncatingIfNeeded: st.st_ino) != inode {
                problems.append("\(t): fd \(fd) is not inode \(inode)")
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n"))")
    }

    // MARK: namespaces

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

    // MARK: count --by

    @Test("count --by: groups sum to count's total, for every attribute", arguments: SocketBreakdownDimensions.all)
    func countBySums(by: String) throws {
        let fixture = try CLIFixture.require()
        let total = fixture.mix.expected.count
        let result = try fixture.sockscan("count", ["-tua", "--by", by, "--format", "json"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["total"] as? Int == total)
        #expect(object["by"] as? String == by)
        let groups = try #require(object["groups"] as? [[String: Any]])
        let counts = groups.compactMap { $0["count"] as? Int }
        #expect(counts.count == groups.count)
        #expect(counts.reduce(0, +) == total)
        #expect(counts == counts.sorted(by: >), "not sorted by count: \(counts)")

        let table = try fixture.sockscan("count", ["-tua", "--by", by])
        #expect(table.status == 0, "\(table)")
        #expect(table.lines.first?.hasPrefix(by.uppercased()) == true)
        #expect(table.lines.last?.split(separator: " ") == ["total", "\(total)"][...].map { Substring($0) })
        #expect(table.lines.count == groups.count + 2)

        let top = try fixture.sockscan("count", ["-tua", "--by", by, "--top", "1", "--format", "json"])
        let topObject = try #require(try JSONSerialization.jsonObject(with: Data(top.stdout.utf8)) as? [String: Any])
        let topGroups = try #require(topObject["groups"] as? [[String: Any]])
        #expect(topGroups.count == 1)
        let other = try #require(topObject["other"] as? [String: Int])
        #expect(other["groups"] == groups.count - 1)
        #expect((topGroups[0]["count"] as? Int ?? 0) + (other["count"] ?? -1) == total)
    }

    @Test("count --by dport: exactly the remote ports made, and the sum is count's total")
    func countByDport() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("count", ["-ta", "--by", "dport", "--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        var got: [Int: Int] = [:]
        for group in object["groups"] as? [[String: Any]] ?? [] {
            guard let port = group["key"] as? Int, let count = group["count"] as? Int else {
                Issue.record("a port key is not a number: \(group)")
                continue
            }
            got[port] = count
        }
        var want: [Int: Int] = [:]
        for t in fixture.mix.expected(.tcp) { want[Int(t.remote.port), default: 0] += 1 }
        #expect(got == want)
        let count = try fixture.sockscan("count", ["-ta", "--format", "json"])
        let countObject = try #require(
            try JSONSerialization.jsonObject(with: Data(count.stdout.utf8)) as? [String: Int])
        #expect(got.values.reduce(0, +) == countObject["total"])

        let csv = try fixture.sockscan("count", ["-ta", "--by", "dport", "--top", "2", "--format", "csv"])
        let rows = CSV.parse(csv.stdout)
        #expect(rows.first == ["dport", "count"])
        #expect(rows.count == 4 && rows.last?.first == "(other)", "\(rows)")
        #expect(rows.dropFirst().compactMap { Int($0[1]) }.reduce(0, +) == countObject["total"])
    }

    @Test("count --by process: the sockets held open are this process's, TIME_WAIT has none")
    func countByProcess() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("count", ["-tua", "--by", "process", "--format", "json"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let groups = object["groups"] as? [[String: Any]] ?? []
        let unowned = groups.first { $0["key"] as? String == "-" }?["count"] as? Int ?? 0
        let owned = groups.filter { $0["key"] as? String != "-" }
        #expect(unowned == fixture.mix.expected { $0.state == .timeWait }.count)
        #expect(owned.compactMap { $0["count"] as? Int }.reduce(0, +) == fixture.mix.inodes.count)
        for group in owned {
            #expect(group["pid"] is Int && group["comm"] is String, "\(group)")
        }
    }

    // MARK: summary

    /// `/proc/net/sockstat` and `sockstat6` of the namespace, as `key: value` for the sar names.
    func sockstat(_ fixture: CLIFixture) throws -> [String: Int] {
        let text =
            try fixture.namespace.exec("cat", ["/proc/net/sockstat"]).stdout
            + fixture.namespace.exec("cat", ["/proc/net/sockstat6"]).stdout
        var values: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard let proto = words.first?.dropLast() else { continue }
            for i in stride(from: 1, to: words.count - 1, by: 2) { values["\(proto).\(words[i])"] = Int(words[i + 1]) }
        }
        let sar = [
            "totsck": "sockets.used", "tcpsck": "TCP.inuse", "udpsck": "UDP.inuse", "rawsck": "RAW.inuse",
            "ip-frag": "FRAG.inuse", "tcp-tw": "TCP.tw", "tcp6sck": "TCP6.inuse", "udp6sck": "UDP6.inuse",
            "raw6sck": "RAW6.inuse", "ip6-frag": "FRAG6.inuse",
        ]
        return sar.compactMapValues { values[$0] }
    }

    @Test("summary agrees with /proc/net/sockstat read in the namespace, and its TCP states with the mix")
    func summary() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("summary", ["--format", "json"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result)")
        #expect(result.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let proc = try sockstat(fixture)
        #expect(proc.count == 10, "\(proc)")
        for (name, value) in proc where name != "totsck" {
            #expect(object[name] as? Int == value, "\(name): summary \(object[name] ?? "none"), sockstat \(value)")
        }
        // sockets: used also counts the netlink sockets of scans running beside this test.
        let used = try #require(object["totsck"] as? Int)
        #expect(used >= fixture.mix.inodes.count)
        #expect(object["tcp-tw"] as? Int == fixture.mix.expected { $0.state == .timeWait }.count)
        let states = try #require(object["tcp_states"] as? [String: Int])
        #expect(Set(states.keys) == Set(TCPState.allCases.map(\.name)))
        var want = Dictionary(uniqueKeysWithValues: TCPState.allCases.map { ($0.name, 0) })
        for (state, n) in fixture.mix.counts(.tcp) { want[state.name] = n }
        #expect(states == want)
        #expect(object["tcp_total"] as? Int == fixture.mix.expected(.tcp).count)

        let table = try fixture.sockscan("summary", [])
        #expect(table.status == 0, "\(table)")
        #expect(table.stdout.contains("totsck    tcpsck    udpsck    rawsck   ip-frag    tcp-tw"))
        #expect(
            table.lines.last
                == "total\(String(repeating: " ", count: 11 - String(fixture.mix.expected(.tcp).count).count))\(fixture.mix.expected(.tcp).count)"
        )
    }

    // MARK: pipes, help, usage

    @Test(
        "| head -1 is quiet for CSV and with -p too",
        arguments: [["--format", "csv"], ["-p"], ["-p", "--format", "json"]])
    func earlyCloseMore(options: [String]) throws {
        let fixture = try CLIFixture.require()
        let arguments = ["list", "--netns", fixture.namespace.name, "-ta"] + options
        let whole = try Binary.run(arguments)
        #expect(whole.status == 0)
        #expect(whole.stdout.utf8.count > 65536 + 4096, "\(whole.stdout.utf8.count) bytes fit in a pipe")
        let outcome = try EarlyClose.run(Binary.path, arguments)
        #expect(outcome.firstLine == String(whole.lines.first ?? ""))
        #expect(outcome.result.status == 0, "\(outcome.result)")
        #expect(!outcome.result.signaled, "\(outcome.result)")
        #expect(outcome.result.stderr.isEmpty, "\(outcome.result.stderr)")
    }

    @Test(
        "--help of every subcommand has an example and documents its flags",
        arguments: [
            ("list", ["--format", "--processes", "--extended", "--info", "--memory", "--netns", "--no-header"]),
            ("count", ["--by", "--top", "--format", "--netns"]),
            ("summary", ["--netns", "--format"]),
            ("ports", ["--netns", "--top", "--fail-at"]),
        ])
    func help(subcommand: String, flags: [String]) throws {
        let result = try Binary.run([subcommand, "--help"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("Examples:"))
        #expect(result.stdout.contains("sockscan \(subcommand) "), "no example of \(subcommand)")
        for flag in flags { #expect(result.stdout.contains(flag), "\(subcommand) --help lacks \(flag)") }
    }

    @Test("shell completion scripts name every subcommand", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let result = try Binary.run(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result)")
        for word in ["list", "count", "summary", "ports", "processes", "format"] {
            #expect(result.stdout.contains(word), "\(shell) completion lacks \(word)")
        }
    }

    @Test(
        "every flag with a wrong or missing value: exit 64, stderr names the flag",
        arguments: [
            (["list", "--format", "xml"], "--format"), (["count", "--format", "xml"], "--format"),
            (["summary", "--format", "csv"], "--format"), (["count", "--by", "dport", "--top", "0"], "--top"),
            (["count", "--by", "state", "--top", "many"], "--top"), (["count", "--top", "3"], "--top"),
            (["count", "--by", "nosuch"], "--by"), (["count", "--by"], "--by"), (["list", "-4", "-6"], "-4"),
            (["list", "--netns"], "--netns"), (["count", "--netns"], "--netns"),
            (["summary", "--netns"], "--netns"), (["ports", "--netns"], "--netns"),
            (["list", "--tcp-strategy", "sideways"], "--tcp-strategy"), (["list", "--format"], "--format"),
            (["ports", "--top", "0"], "--top"), (["ports", "--warn", "101"], "--warn"), (["summary", "-t"], "-t"),
            (["list", "--processes=yes"], "--processes"), (["list", "-p", "--format", "yaml"], "--format"),
            (["nosuch"], "nosuch"),
        ])
    func badValues(arguments: [String], flag: String) throws {
        let result = try Binary.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(flag), "\(arguments): stderr does not name \(flag): \(result.stderr)")
    }
}

/// `count --by` attributes, as the CLI spells them.
enum SocketBreakdownDimensions {
    static let all = ["state", "local", "remote", "sport", "dport", "process"]
}

/// A small RFC 4180 reader for checking output: quoted fields, doubled quotes, LF or CRLF line ends.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.append("\"")
                        chars = chars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
