import SockScanTestSupport
import Testing

@testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// A scanner must recover from a socket left out of step with the kernel, and must not give up the
/// one-pass request because the kernel refused a filter program.
@Suite("Scanner recovery", .liveMix(extraPairs: 300))
struct ScannerRecoveryTests {
    @Test("a socket out of step (a stray dump queued) fails one scan, then the scanner opens a new socket")
    func outOfStep() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let everything = ScanQuery(protocols: .all, states: .all)
        let expected = tupleSet(try scanner.records(everything))
        expectSame(expected, fixture.mix.expected, "before")
        // The kernel now has a reply queued that no scan asked for: its sequence number is foreign.
        try scanner.queueStrayDumpForTesting()
        #expect {
            try scanner.records(everything)
        } throws: { error in
            guard case .malformedReply(.foreignMessage) = error as? SockDiagError else { return false }
            return (error as? SockDiagError)?.category == .kernel
        }
        // Not broken for good: the next scan runs on a fresh socket and sees everything.
        expectSame(tupleSet(try scanner.records(everything)), expected, "after recovery")
        expectSame(tupleSet(try scanner.records(everything)), expected, "and again")
    }

    @Test("a bytecode program the kernel refuses is an error, and one pass stays in use afterwards")
    func refusedProgram() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        // Op code 0xEE does not exist: inet_diag_bc_audit answers EINVAL.
        let bad = ScanQuery(protocols: .tcp, states: .all, bytecode: [0xEE, 4, 8, 0])
        #expect {
            try scanner.records(bad)
        } throws: { error in
            guard case .kernel(let kernel) = error as? SockDiagError else { return false }
            return kernel.errno == .invalidArgument
        }
        #expect(scanner.onePassSupported != false)
        var stats = ScanStatistics()
        stats = try scanner.forEach(ScanQuery(protocols: .tcp, states: .all)) { _ in }
        #expect(stats.usedOnePassTCP)
        #expect(stats.requests == 1)
    }

    @Test("a body that throws mid-dump leaves the socket usable without reopening it")
    func bodyThrows() throws {
        struct Stop: Error {}
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let everything = ScanQuery(protocols: .all, states: .all)
        var seen = 0
        #expect(throws: Stop.self) {
            try scanner.forEach(everything) { _ in
                seen += 1
                if seen == 50 { throw Stop() }
            }
        }
        expectSame(tupleSet(try scanner.records(everything)), fixture.mix.expected, "after the drain")
    }
}
