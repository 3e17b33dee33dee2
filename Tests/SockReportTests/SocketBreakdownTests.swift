import SockScanTestSupport
import Testing

@testable import SockDiag
@testable import SockReport

@Suite("SocketBreakdown")
struct SocketBreakdownTests {
    static func record(
        _ state: TCPState, local: String, _ sport: UInt16, remote: String, _ dport: UInt16, inode: UInt32 = 0
    ) -> SocketRecord {
        SocketRecord(
            proto: .tcp, family: local.contains(":") ? .inet6 : .inet, state: state,
            local: Endpoint(address: IPAddress(local)!, port: sport),
            remote: Endpoint(address: IPAddress(remote)!, port: dport), inode: inode)
    }

    static let records: [SocketRecord] = [
        record(.established, local: "10.0.0.5", 40000, remote: "10.0.0.9", 443, inode: 11),
        record(.established, local: "10.0.0.5", 40001, remote: "10.0.0.9", 443, inode: 12),
        record(.timeWait, local: "10.0.0.5", 40002, remote: "10.0.0.9", 443),
        record(.established, local: "10.0.0.6", 40003, remote: "10.0.0.8", 5432, inode: 13),
        record(.synSent, local: "::1", 40004, remote: "::1", 80, inode: 14),
        record(.listen, local: "0.0.0.0", 22, remote: "0.0.0.0", 0, inode: 15),
    ]

    static func breakdown(_ dimension: SocketBreakdown.Dimension) -> SocketBreakdown {
        var b = SocketBreakdown(by: dimension)
        for r in records { b.add(r) }
        return b
    }

    @Test func byRemotePortSortedWithTotal() {
        let b = Self.breakdown(.remotePort)
        #expect(b.total == 6)
        let ranking = b.groups()
        #expect(
            ranking.groups == [
                .init(key: .port(443), count: 3), .init(key: .port(0), count: 1), .init(key: .port(80), count: 1),
                .init(key: .port(5432), count: 1),
            ])
        #expect(ranking.groups.reduce(0) { $0 + $1.count } == b.total)
    }

    @Test func topSumsTheRest() {
        let ranking = Self.breakdown(.remotePort).groups(top: 2)
        #expect(ranking.groups == [.init(key: .port(443), count: 3), .init(key: .port(0), count: 1)])
        #expect(ranking.otherGroups == 2 && ranking.otherCount == 2)
        let all = Self.breakdown(.remotePort).groups(top: 10)
        #expect(all.groups.count == 4 && all.otherGroups == 0 && all.otherCount == 0)
    }

    @Test func byAddressesAndState() {
        #expect(
            Self.breakdown(.localAddress).groups().groups.map(\.key.description) == [
                "10.0.0.5", "0.0.0.0", "10.0.0.6", "::1",
            ])
        #expect(
            Self.breakdown(.remoteAddress).groups().groups.first
                == .init(key: .address(IPAddress("10.0.0.9")!), count: 3))
        #expect(Self.breakdown(.localPort).groups().groups.count == 6)
        let states = Self.breakdown(.state).groups().groups
        #expect(states.first == .init(key: .state(.established), count: 3))
        #expect(states.map(\.key.description) == ["established", "syn-sent", "time-wait", "listen"])
    }

    @Test func byProcess() throws {
        let f = try ProcFixture()
        try f.process(10, comm: "curl", fds: [3: "socket:[11]", 4: "socket:[12]"])
        try f.process(20, comm: "psql", fds: [5: "socket:[13]"])
        try f.process(30, comm: "sshd", fds: [3: "socket:[15]"])
        try f.process(31, comm: "sshd", fds: [3: "socket:[15]"])
        var b = Self.breakdown(.process)
        // A socket the dump repeated counts once.
        b.add(Self.records[0])
        #expect(b.pendingInodes == [11, 12, 13, 14, 15])
        let owners = try ProcessTable(resolving: b.pendingInodes, procRoot: f.root)
        b.attribute(using: owners)
        #expect(b.total == 6)
        #expect(
            b.groups().groups == [
                .init(key: .process(pid: 10, comm: "curl"), count: 2), .init(key: .noProcess, count: 2),
                .init(key: .process(pid: 20, comm: "psql"), count: 1),
                .init(key: .process(pid: 30, comm: "sshd"), count: 1),
            ])
        #expect(SocketBreakdown.Key.process(pid: 10, comm: "curl").description == "curl[10]")
    }
}
