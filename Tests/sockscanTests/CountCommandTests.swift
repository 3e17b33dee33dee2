import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan count` on a private namespace holding the known mix (with 700 extra pairs): per-state counts in
/// every format, state filters, `--by` groups.
@Suite("count", .cliMix(extraPairs: 700))
struct CountCommandTests {
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

    func countObject(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any]
    {
        #expect(result.status == 0 && result.lines.count == 1, "\(result)", sourceLocation: sourceLocation)
        return try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
            sourceLocation: sourceLocation)
    }

    @Test("count --format json: the states asked for are keys even at zero; -a and the default list their whole set")
    func countJSONKeys() throws {
        let fixture = try CLIFixture.require()
        let counts = fixture.mix.counts(.tcp)
        // No socket of the mix is in syn-sent or closing.
        #expect(counts[.synSent] == nil && counts[.closing] == nil)
        let synSent = try countObject(fixture.sockscan("count", ["-t", "state", "syn-sent", "--format", "json"]))
        #expect(synSent as? [String: Int] == ["total": 0, "syn-sent": 0])

        let two = try countObject(
            fixture.sockscan("count", ["-t", "state", "time-wait", "state", "closing", "--format", "json"]))
        #expect(
            two as? [String: Int]
                == ["total": counts[.timeWait] ?? 0, "time-wait": counts[.timeWait] ?? 0, "closing": 0])

        let all = try countObject(fixture.sockscan("count", ["-ta", "--format", "json"]))
        #expect(Set(all.keys) == Set(["total"] + TCPState.allCases.map(\.name)))
        let listening = try countObject(fixture.sockscan("count", ["-tl", "--format", "json"]))
        #expect(Set(listening.keys) == ["total", "listen", "close"])
        let connected = try countObject(fixture.sockscan("count", ["-t", "--format", "json"]))
        #expect(Set(connected.keys) == Set(["total"] + StateSet.ssDefault.states.map(\.name)))
        #expect(connected["established"] as? Int == counts[.established])
    }

    @Test("count --format csv: a row per state of the scan, zeros too, and a total row as the table has")
    func countCSVRows() throws {
        let fixture = try CLIFixture.require()
        let counts = fixture.mix.counts(.tcp)
        let result = try fixture.sockscan("count", ["-t", "state", "time-wait", "state", "closing", "--format", "csv"])
        #expect(result.status == 0, "\(result)")
        let timeWait = counts[.timeWait] ?? 0
        #expect(
            CSV.parse(result.stdout) == [
                ["state", "count"], ["time-wait", "\(timeWait)"], ["closing", "0"], ["total", "\(timeWait)"],
            ])
        let bare = try fixture.sockscan("count", ["-t", "state", "closing", "--format", "csv", "-H"])
        #expect(bare.stdout == "closing,0\ntotal,0\n")
        // The table names the states asked for, zeros included.
        let table = try fixture.sockscan("count", ["-t", "state", "closing"])
        #expect(table.lines == ["State        Count", "closing      0", "total        0"])
    }
    @Test("count -tua: JSON keeps the totals per state and adds tcp and udp objects of the same shape")
    func countSplitJSON() throws {
        let fixture = try CLIFixture.require()
        let object = try countObject(fixture.sockscan("count", ["-tua", "--format", "json"]))
        func want(_ counts: [TCPState: Int], total: Int) -> [String: Int] {
            var want = Dictionary(uniqueKeysWithValues: TCPState.allCases.map { ($0.name, 0) })
            want["total"] = total
            for (state, n) in counts { want[state.name] = n }
            return want
        }
        let tcp = try #require(object["tcp"] as? [String: Int])
        let udp = try #require(object["udp"] as? [String: Int])
        #expect(tcp == want(fixture.mix.counts(.tcp), total: fixture.mix.expected(.tcp).count))
        #expect(udp == want(fixture.mix.counts(.udp), total: fixture.mix.expected(.udp).count))
        let top = object.filter { $0.key != "tcp" && $0.key != "udp" }.mapValues { $0 as? Int ?? -1 }
        #expect(top == want(fixture.mix.expected.countsByState(), total: fixture.mix.expected.count))
        // UDP's unconnected sockets are in close, and are not TCP's.
        #expect(udp["close"] ?? 0 > 0 && tcp["close"] == 0, "\(object)")

        let one = try countObject(fixture.sockscan("count", ["-t", "--format", "json"]))
        #expect(one["tcp"] == nil && one["udp"] == nil, "one protocol: no split")
    }

    @Test("count -tua: the table and CSV have TCP and UDP columns beside the count")
    func countSplitTable() throws {
        let fixture = try CLIFixture.require()
        let tcp = fixture.mix.counts(.tcp)
        let udp = fixture.mix.counts(.udp)
        let table = try fixture.sockscan("count", ["-tua"])
        #expect(table.status == 0, "\(table)")
        let rows = table.lines.map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first == ["State", "TCP", "UDP", "Count"])
        var want: [[String]] = []
        for state in TCPState.allCases where tcp[state] != nil || udp[state] != nil {
            let (t, u) = (tcp[state] ?? 0, udp[state] ?? 0)
            want.append([state.name, "\(t)", "\(u)", "\(t + u)"])
        }
        let (t, u) = (fixture.mix.expected(.tcp).count, fixture.mix.expected(.udp).count)
        want.append(["total", "\(t)", "\(u)", "\(t + u)"])
        #expect(Array(rows.dropFirst()) == want)

        let csv = CSV.parse(try fixture.sockscan("count", ["-tua", "--format", "csv"]).stdout)
        #expect(csv.first == ["state", "count", "tcp", "udp"])
        #expect(csv.last == ["total", "\(t + u)", "\(t)", "\(u)"])
        #expect(csv.count == TCPState.allCases.count + 2)
        #expect(csv.first { $0.first == "close" } == ["close", "\(udp[.close] ?? 0)", "0", "\(udp[.close] ?? 0)"])
    }
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
}

/// `count --by` attributes, as the CLI spells them.
enum SocketBreakdownDimensions {
    static let all = ["state", "local", "remote", "sport", "dport", "process"]
}
