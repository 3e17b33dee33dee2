import SockDiag
import SockScanTestSupport
import Testing

/// The namespace and socket mix of the running test (``MixTrait``).
typealias LiveFixture = MixFixture

extension MixFixture {
    /// A scanner on the fixture's namespace that must use netlink (no /proc fallback).
    func scanner(_ strategy: TCPDumpStrategy = .automatic, source: ScanSource = .netlink) throws -> Scanner {
        try Scanner(namespace: namespace.namespace, source: source, tcpStrategy: strategy, allowProcFallback: false)
    }
}

extension Trait where Self == MixTrait {
    /// A private namespace holding the known socket mix (plus `extraPairs` established pairs) for each test.
    static func liveMix(extraPairs: Int = 0) -> Self { MixTrait(extraPairs: extraPairs) }
}

/// Tuples of records, checking that no socket came twice.
func tupleSet(_ records: [SocketRecord], sourceLocation: SourceLocation = #_sourceLocation) -> Set<SocketTuple> {
    let set = Set(records.map(SocketTuple.init))
    #expect(set.count == records.count, "a socket was reported twice", sourceLocation: sourceLocation)
    return set
}
