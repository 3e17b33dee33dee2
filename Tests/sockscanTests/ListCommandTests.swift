import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan list` on a private namespace holding the known mix (with 700 extra pairs, so a listing is larger
/// than a pipe holds): every format and option against the mix and `ss`.
@Suite("list", .cliMix(extraPairs: 700))
struct ListCommandTests {
    /// The fields every NDJSON socket object carries (the CLI contract).
    static let contractFields = [
        "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
        "send_q", "uid", "inode", "cookie", "interface",
    ]

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

    @Test("list -tua -H prints exactly the sockets made, as ss -tuanH does", arguments: ["", "perFamily", "proc"])
    func listTable(variant: String) throws {
        let fixture = try CLIFixture.require()
        var arguments = ["-tua", "-H"]
        switch variant {
        case "perFamily": arguments += ["--tcp-strategy", "perFamily"]
        case "proc": arguments.append("--proc")
        default: break
        }
        let result = try fixture.sockscan("list", arguments)
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.isEmpty)
        let tuples = tableTuples(result)
        #expect(Set(tuples).count == tuples.count, "a socket was listed twice")
        expectSame(Set(tuples), fixture.mix.expected, "sockscan list -tua -H \(variant) vs the mix")
        let ss = try SSOracle(namespace: fixture.namespace.name).tuples(.all)
        expectSame(Set(tuples), Set(ss), "sockscan list -tua -H \(variant) vs ss -tuanH")
    }

    @Test("sockscan without a command lists: -tua -H, and no option but --netns, as list does")
    func listIsTheDefaultCommand() throws {
        let fixture = try CLIFixture.require()
        let netns = ["--netns", fixture.namespace.name]
        // `sockscan` picks the command by its first argument itself (no defaultSubcommand: start-up).
        let bare = try Binary.run(["-tua", "-H"] + netns)
        #expect(bare.status == 0, "\(bare)")
        expectSame(Set(tableTuples(bare)), fixture.mix.expected, "sockscan -tua -H vs the mix")
        let nothing = try Binary.run(netns)
        let list = try Binary.run(["list"] + netns)
        #expect(nothing.status == 0 && list.status == 0, "\(nothing) \(list)")
        #expect(list.lines.count > 100, "the mix's connected sockets")
        #expect(nothing.lines.first == list.lines.first && list.lines.first?.hasPrefix("State") == true, "the header")
        #expect(nothing.lines.sorted() == list.lines.sorted(), "sockscan alone vs sockscan list")
    }

    @Test("list --format json: one object per line with the contract fields")
    func listJSON() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("list", ["-tua", "--format", "json"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.hasSuffix("}\n"))
        var tuples: [SocketTuple] = []
        var cookies: Set<UInt64> = []
        var problems: [String] = []
        for line in result.lines {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                problems.append("not a JSON object: \(line)")
                continue
            }
            let missing = Self.contractFields.filter { object[$0] == nil }
            if !missing.isEmpty { problems.append("missing \(missing) in \(line)") }
            guard
                let proto = (object["proto"] as? String).flatMap({ ["tcp": TransportProtocol.tcp, "udp": .udp][$0] }),
                let family = (object["family"] as? String).flatMap({
                    ["inet": AddressFamily.inet, "inet6": .inet6][$0]
                }),
                let state = (object["state"] as? String).flatMap({ TCPState(name: $0) }),
                let localAddress = (object["local_address"] as? String).flatMap({ IPAddress($0) }),
                let localPort = (object["local_port"] as? NSNumber)?.uint16Value,
                let remoteAddress = (object["remote_address"] as? String).flatMap({ IPAddress($0) }),
                let remotePort = (object["remote_port"] as? NSNumber)?.uint16Value,
                let inode = (object["inode"] as? NSNumber)?.uint32Value,
                let cookie = (object["cookie"] as? NSNumber)?.uint64Value,
                object["recv_q"] is NSNumber, object["send_q"] is NSNumber, object["uid"] is NSNumber,
                object["interface"] is NSNumber
            else {
                problems.append("a field has the wrong type: \(line)")
                continue
            }
            let tuple = SocketTuple(
                proto: proto, family: family, state: state, local: Endpoint(address: localAddress, port: localPort),
                remote: Endpoint(address: remoteAddress, port: remotePort))
            tuples.append(tuple)
            cookies.insert(cookie)
            if state != .timeWait && inode != fixture.mix.inodes[tuple] {
                problems.append("\(tuple): inode \(inode), fstat says \(String(describing: fixture.mix.inodes[tuple]))")
            }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n"))")
        #expect(Set(tuples).count == tuples.count)
        expectSame(Set(tuples), fixture.mix.expected, "list --format json vs the mix")
        #expect(cookies.count == tuples.count && !cookies.contains(0), "cookies must be unique and non-zero")
    }

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

    @Test(
        "-n / --numeric is accepted (ss habit: -tan, -tlnp, -tuln) and changes nothing",
        arguments: [["-tan"], ["-tlnp"], ["-tuln"], ["-ta", "--numeric"], ["-t", "-a", "-n"]])
    func numericIsAccepted(arguments: [String]) throws {
        let fixture = try CLIFixture.require()
        let with = try fixture.sockscan("list", arguments + ["-H"])
        #expect(with.status == 0, "\(arguments): \(with)")
        let without = arguments.map { $0.replacingOccurrences(of: "n", with: "") }.filter {
            $0 != "-" && $0 != "--umeric"
        }
        let plain = try fixture.sockscan("list", without + ["-H"])
        #expect(plain.status == 0, "\(without): \(plain)")
        // -p rows name this test process, whose children may come and go: compare the socket rows.
        #expect(Set(with.lines.map(Self.withoutUsers)) == Set(plain.lines.map(Self.withoutUsers)))
        let count = try fixture.sockscan("count", arguments.filter { !$0.contains("p") })
        #expect(count.status == 0, "\(count)")
    }
    /// `ino:N sk:HEX` pairs of `-e` rows (sockets with an inode: TIME_WAIT has none).
    static func cookiesByInode(_ lines: [Substring]) -> [String: String] {
        var pairs: [String: String] = [:]
        for line in lines {
            guard let match = line.firstMatch(of: /ino:([0-9]+) sk:([0-9a-f]+)/), match.1 != "0" else { continue }
            pairs[String(match.1)] = String(match.2)
        }
        return pairs
    }

    @Test("list -e: sk: is the cookie in hexadecimal, exactly as ss -e prints it")
    func cookieAsSS() throws {
        let fixture = try CLIFixture.require()
        let ours = try fixture.sockscan("list", ["-tuae", "-H"])
        #expect(ours.status == 0, "\(ours)")
        let ss = try fixture.namespace.exec("ss", ["-tuanHe"])
        let mine = Self.cookiesByInode(ours.lines)
        #expect(mine.count >= fixture.mix.inodes.count, "\(ours.stdout.prefix(500))")
        #expect(mine == Self.cookiesByInode(ss.lines))
    }
}
