import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan summary` on a private namespace holding the known mix (with 700 extra pairs).
@Suite("summary", .cliMix(extraPairs: 700))
struct SummaryCommandTests {
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
}
