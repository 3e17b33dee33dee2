import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// What a black-box review of the CLI found: `ss` habits (`-n`), messages with a reason, usage errors
/// where usage is wrong, help that fits 80 columns, and output that agrees with `ss`.
extension CLITests {
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
}

// MARK: count: every state of the scan a key

extension CLITests {
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
}

// MARK: count: TCP and UDP apart

extension CLITests {
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
}

// MARK: the table as ss prints it

extension CLITests {
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
