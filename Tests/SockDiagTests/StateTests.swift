import Testing

@testable import SockDiag

/// State names and the `ss` state groups.
@Suite("TCP states and state sets")
struct StateTests {
    static let names: [(String, UInt8)] = [
        ("established", 1), ("syn-sent", 2), ("syn-recv", 3), ("fin-wait-1", 4), ("fin-wait-2", 5),
        ("time-wait", 6), ("close", 7), ("close-wait", 8), ("last-ack", 9), ("listen", 10), ("closing", 11),
    ]

    @Test(arguments: names)
    func nameRoundTrips(name: String, number: UInt8) throws {
        let state = try #require(TCPState(name: name))
        #expect(state.rawValue == number)
        #expect(state.name == name)
        #expect(state.description == name)
        #expect(TCPState(name: name.uppercased()) == state)
        #expect(StateSet(name: name) == StateSet(state))
        #expect(StateSet(name: name)?.rawValue == 1 << UInt32(number))
    }

    @Test func everyStateHasAName() {
        #expect(TCPState.allCases.count == 11)
        for state in TCPState.allCases {
            #expect(TCPState(name: state.name) == state)
            #expect(state.columnName != "UNKNOWN")
        }
        #expect(StateSet.validNames.count == 16)
        for name in StateSet.validNames { #expect(StateSet(name: name) != nil, "\(name)") }
    }

    @Test func aliases() {
        #expect(TCPState(name: "closed") == .close)
        #expect(TCPState(name: "listening") == .listen)
        #expect(StateSet(name: "closed") == StateSet(.close))
        #expect(StateSet(name: "LISTENING") == StateSet(.listen))
    }

    @Test(arguments: ["", "unknown", "time_wait", "timewait", "est", "all ", "connected2", "listen\n"])
    func unknownName(name: String) {
        #expect(TCPState(name: name) == nil)
        #expect(StateSet(name: name) == nil)
    }

    @Test func columnNames() {
        #expect(TCPState.established.columnName == "ESTAB")
        #expect(TCPState.close.columnName == "UNCONN")
        #expect(TCPState.timeWait.columnName == "TIME-WAIT")
        #expect(TCPState(rawValue: 12).columnName == "UNKNOWN")
        #expect(TCPState(rawValue: 12).name == "unknown-12")
    }

    /// The masks of iproute2's `scan_state()`, written out bit by bit.
    @Test func groupsHaveTheMasksSSUses() {
        let listen: UInt32 = 1 << 10
        let close: UInt32 = 1 << 7
        let synSent: UInt32 = 1 << 2
        let synRecv: UInt32 = 1 << 3
        let timeWait: UInt32 = 1 << 6
        #expect(StateSet.all.rawValue == 0xFFF)
        #expect(StateSet(name: "all")?.rawValue == 0xFFF)
        #expect(StateSet(name: "connected")?.rawValue == 0xFFF & ~(listen | close))
        #expect(StateSet(name: "synchronized")?.rawValue == 0xFFF & ~(listen | close | synSent))
        #expect(StateSet(name: "bucket")?.rawValue == synRecv | timeWait)
        #expect(StateSet(name: "big")?.rawValue == 0xFFF & ~(synRecv | timeWait))
        #expect(StateSet(name: "Connected") == .connected)
        #expect(StateSet.ssDefault.rawValue == 0xFFF & ~(listen | close | synRecv | timeWait))
    }

    @Test func setOperations() {
        var set = StateSet([.established, .timeWait])
        #expect(set.rawValue == 0x42)
        #expect(set.contains(TCPState.timeWait))
        #expect(!set.contains(TCPState.listen))
        set.insert(TCPState.listen)
        set.remove(TCPState.established)
        #expect(set.states == [.timeWait, .listen])
        #expect(set.description == "[time-wait, listen]")
        #expect(StateSet.bucket.states == [.synRecv, .timeWait])
    }
}

@Suite("StateCounts")
struct StateCountsTests {
    @Test func addsCountsAndSums() {
        var tcp = StateCounts()
        for _ in 0..<3 { tcp.add(.established) }
        tcp.add(.timeWait)
        var udp = StateCounts()
        udp.add(.close)
        udp.add(.established)
        let both = tcp + udp
        #expect(both[.established] == 4 && both[.timeWait] == 1 && both[.close] == 1)
        #expect(both.total == 6)
        #expect(both.nonZero.map(\.state) == [.established, .timeWait, .close])
        #expect(both.nonZero.map(\.count) == [4, 1, 1])
        #expect(both.byState.count == 16 && both.byState[Int(TCPState.established.rawValue)] == 4)
        var sum = tcp
        sum.add(udp)
        #expect(sum == both)
        sum[.listen] = 7
        #expect(sum.total == 13)
    }

    /// Counts live inline: a value is a fixed size, whatever it counts.
    @Test func isInline() {
        #expect(MemoryLayout<StateCounts>.size == 128)
    }
}
