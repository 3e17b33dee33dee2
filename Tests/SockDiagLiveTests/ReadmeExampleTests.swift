import SockDiag
import SockScanTestSupport
import Testing

/// The README's library example, kept compiling and running against a live namespace.
@Suite("README library example", .liveMix())
struct ReadmeExampleTests {
    @Test("the example compiles and its calls return what the mix holds")
    func example() throws {
        let fixture = try LiveFixture.require()
        let scanner = try Scanner(namespace: fixture.namespace.namespace)  // the README uses Scanner()
        let query = ScanQuery(protocols: .tcp, states: StateSet(.timeWait))
        var timeWait = 0
        try scanner.forEach(query) { socket in
            #expect(socket.state == .timeWait)
            timeWait += 1
        }
        #expect(timeWait == fixture.mix.counts(.tcp)[.timeWait] ?? 0)
        let counts = try scanner.count(ScanQuery(protocols: .all))
        #expect(Int(counts.total) == fixture.mix.expected.count)

        let https = try Filter(parsing: "dport = :443 and dst 10.0.0.0/8")
        let db = try Filter(parsing: "dst db1:5432", hosts: .table(["db1": [.v4(IPv4Address(10, 0, 0, 7))]]))
        #expect(db == Filter(.dst(.v4(IPv4Address(10, 0, 0, 7)), port: 5432)))
        let range = Filter(.sport(.greaterOrEqual, 32768) && .sport(.lessOrEqual, 60999))
        let records = try scanner.records(ScanQuery(protocols: .tcp, filter: https))
        #expect(records.isEmpty)
        #expect(try scanner.kernelProgram(for: range).explanation.contains("S_GE      sport >= 32768"))

        let listeners = ScanQuery(protocols: .tcp, states: StateSet(.listen))
        let owners = try scanner.owners(of: listeners)
        var owned = 0
        try scanner.forEach(listeners) { socket in
            if !owners.owners(of: socket.inode).isEmpty { owned += 1 }
        }
        // The test process made every listener of the mix.
        #expect(owned == fixture.mix.counts(.tcp)[.listen] ?? -1)
    }
}
