import SockDiag
import SockScanTestSupport
import Testing

/// Programs beyond the 4096 bytes once assumed: the kernel bounds them by the netlink attribute only.
@Suite("Filters: kernel programs beyond 4096 bytes", .liveMix(extraPairs: 20))
struct FilterLargeProgramTests {
    /// An `or` of `count` port conditions: the mix's ports (as `sport` and `dport`) among unused ones.
    static func ports(_ count: Int) -> String {
        let mix = [
            SocketMix.tcp4LoopbackPort, SocketMix.tcp6Port, SocketMix.bulkPort, SocketMix.udp4Port,
            SocketMix.udp6Port,
        ]
        var terms = mix.map { "sport = :\($0)" } + [SocketMix.tcp4AnyPort].map { "dport = :\($0)" }
        var filler: UInt16 = 20000
        while terms.count < count {
            terms.append("\(terms.count % 2 == 0 ? "sport" : "dport") = :\(filler)")
            filler += 1
        }
        // The mix's ports at the start, in the middle and at the end of the chain.
        terms.swapAt(2, count / 2)
        terms.swapAt(3, count - 1)
        return terms.joined(separator: " or ")
    }

    func tuples(_ scanner: Scanner, _ filter: Filter?) throws -> Set<SocketTuple> {
        tupleSet(try scanner.records(ScanQuery(protocols: .all, states: .all, filter: filter)))
    }

    @Test("a 400-port 'or' (4,796 bytes of bytecode): the kernel runs it and returns what ss returns")
    func fourHundredPorts() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let text = Self.ports(400)
        let filter = try Filter(parsing: text)
        let program = try scanner.prepare(ScanQuery(protocols: .all, states: .all, filter: filter)).program
        #expect(program.bytecode.count == 400 * 8 + 399 * 4)
        #expect(program.bytecode.count > 4096)
        let kernel = try tuples(scanner, filter)
        let ss = try fixture.namespace.exec("ss", ["-tuanH"] + text.split(separator: " ").map(String.init))
        #expect(ss.status == 0, "\(ss.stderr)")
        let ssTuples = Set(ss.stdout.split(separator: "\n").compactMap { SSOracle.parse($0, proto: nil, state: nil) })
        expectSame(kernel, ssTuples, "400 ports: kernel vs ss")
        // And what the mix holds: some sockets, not all.
        let expected = fixture.mix.expected.filter {
            filter.matches(
                SocketRecord(proto: $0.proto, family: $0.family, state: $0.state, local: $0.local, remote: $0.remote))
        }
        expectSame(kernel, expected, "400 ports: kernel vs the mix")
        #expect(!kernel.isEmpty && kernel.count < fixture.mix.expected.count)
    }

    @Test(
        "the largest program a request carries (65,528 bytes) runs in the kernel; one op more is refused before sending"
    )
    func largestProgram() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let filter = try Filter(parsing: Self.ports(5461))
        let prepared = try scanner.prepare(ScanQuery(protocols: .all, states: .all, filter: filter))
        #expect(prepared.program.bytecode.count == KernelProgram.maximumBytecodeLength)
        let kernel = try tuples(scanner, filter)
        let everything = try scanner.records(ScanQuery(protocols: .all, states: .all))
        expectSame(kernel, Set(everything.filter { filter.matches($0) }.map(SocketTuple.init)), "5,461 ports")
        #expect(!kernel.isEmpty)
        let tooLong = try Filter(parsing: Self.ports(5462))
        #expect(throws: SockDiagError.filter(.programTooLong(KernelProgram.maximumBytecodeLength + 12))) {
            _ = try scanner.records(ScanQuery(filter: tooLong))
        }
    }
}
