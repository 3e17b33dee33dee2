import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Runs the built `sockscan` on a private namespace holding the known mix (with 700 extra pairs, so a
/// listing is larger than a pipe holds) and reads its stdout, stderr and exit status.
@Suite("sockscan CLI", .cliMix(extraPairs: 700))
struct CLITests {
    /// The fields every NDJSON socket object carries (the CLI contract).
    static let contractFields = [
        "proto", "family", "state", "local_address", "local_port", "remote_address", "remote_port", "recv_q",
        "send_q", "uid", "inode", "cookie", "interface",
    ]

    /// Parses table rows (`Netid State Recv-Q Send-Q Local Peer`) as `ss` rows.
    func tableTuples(_ result: CommandResult, proto: TransportProtocol? = nil) -> [SocketTuple] {
        result.lines.compactMap { line in
            let tuple = SSOracle.parse(line, proto: proto, state: nil)
            #expect(tuple != nil, "unparsable row: \(line)")
            return tuple
        }
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

    @Test("count -ta --format json gives the per-state counts made, a key for every state")
    func countJSON() throws {
        let fixture = try CLIFixture.require()
        let result = try fixture.sockscan("count", ["-ta", "--format", "json"])
        #expect(result.status == 0, "\(result)")
        #expect(result.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Int])
        // Every state -a covers is a key, zeros included.
        var want = Dictionary(uniqueKeysWithValues: TCPState.allCases.map { ($0.name, 0) })
        want["total"] = fixture.mix.expected(.tcp).count
        for (state, count) in fixture.mix.counts(.tcp) { want[state.name] = count }
        #expect(object == want)
    }

    @Test("count and list with a state filter, options before or after it")
    func stateFilter() throws {
        let fixture = try CLIFixture.require()
        let timeWait = fixture.mix.expected { $0.state == .timeWait }

        let table = try fixture.sockscan("count", ["-t", "state", "time-wait"])
        #expect(table.status == 0, "\(table)")
        #expect(
            table.lines == ["State        Count", "time-wait    \(timeWait.count)", "total        \(timeWait.count)"])

        let json = try fixture.sockscan("count", ["-tu", "state", "established", "--format", "json"])
        #expect(json.status == 0, "\(json)")
        let established = fixture.mix.expected { $0.state == .established }.count
        let tcp = fixture.mix.expected { $0.state == .established && $0.proto == .tcp }.count
        let udp = established - tcp
        #expect(
            json.stdout
                == "{\"total\":\(established),\"established\":\(established),"
                + "\"tcp\":{\"total\":\(tcp),\"established\":\(tcp)},\"udp\":{\"total\":\(udp),\"established\":\(udp)}}\n"
        )

        // Options after the filter words, as ss takes them.
        let after = try Binary.run(["list", "-t", "state", "time-wait", "-H", "--netns", fixture.namespace.name])
        #expect(after.status == 0, "\(after)")
        expectSame(Set(tableTuples(after, proto: .tcp)), timeWait, "list -t state time-wait -H")

        let excluded = try fixture.sockscan("list", ["-tua", "-H", "exclude", "established", "exclude", "listen"])
        #expect(excluded.status == 0, "\(excluded)")
        expectSame(
            Set(tableTuples(excluded)), fixture.mix.expected { $0.state != .established && $0.state != .listen },
            "exclude established exclude listen")
    }

    @Test(
        "usage errors exit 64 naming the bad argument",
        arguments: [["list", "state", "nosuch"], ["list", "--bogus"], ["count", "exclude", "sideways"]])
    func usageErrors(arguments: [String]) throws {
        let result = try Binary.run(arguments)
        #expect(result.status == 64, "\(result)")
        #expect(result.stdout.isEmpty)
        let bad = arguments.last!
        #expect(result.stderr.contains(bad), "stderr does not name \(bad): \(result.stderr)")
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

    @Test("stdout closed after the first line (| head -1): exit 0, nothing on stderr", arguments: ["table", "json"])
    func earlyClose(format: String) throws {
        let fixture = try CLIFixture.require()
        let arguments = ["list", "--netns", fixture.namespace.name, "-ta", "--format", format]
        // The output must be larger than a pipe holds, or the program never meets the closed pipe.
        let whole = try Binary.run(arguments)
        #expect(whole.status == 0)
        #expect(whole.stdout.utf8.count > 65536 + 4096, "\(whole.stdout.utf8.count) bytes fit in a pipe")

        let outcome = try EarlyClose.run(Binary.path, arguments)
        #expect(outcome.firstLine == String(whole.lines.first ?? ""))
        #expect(outcome.result.status == 0, "\(outcome.result)")
        #expect(!outcome.result.signaled, "killed by a signal (SIGPIPE?): \(outcome.result)")
        #expect(outcome.result.stderr.isEmpty, "\(outcome.result.stderr)")
    }
}
