import SockDiag
import SockScanTestSupport
import Testing

/// The namespace and socket mix one suite shares: made once before the suite's first test and removed
/// after its last, also when a test fails.
final class LiveFixture: Sendable {
    let namespace: TestNamespace
    let mix: SocketMix

    /// The fixture of the suite being run (set by ``LiveMixTrait``).
    @TaskLocal static var current: LiveFixture?

    init(namespace: TestNamespace, mix: SocketMix) {
        self.namespace = namespace
        self.mix = mix
    }

    /// The current suite's fixture, or a recorded failure.
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> LiveFixture {
        try #require(current, "no LiveFixture: the suite needs the .liveMix trait", sourceLocation: sourceLocation)
    }

    /// A scanner on the fixture's namespace that must use netlink (no /proc fallback).
    func scanner(_ strategy: TCPDumpStrategy = .automatic) throws -> Scanner {
        try Scanner(namespace: namespace.namespace, tcpStrategy: strategy, allowProcFallback: false)
    }
}

/// Makes a ``TestNamespace`` with a ``SocketMix`` around a whole suite (one namespace per suite).
struct LiveMixTrait: SuiteTrait, TestScoping {
    var extraPairs: Int

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let mix = try SocketMix(in: namespace, extraPairs: extraPairs)
        defer { mix.close() }
        try await LiveFixture.$current.withValue(LiveFixture(namespace: namespace, mix: mix)) {
            try await function()
        }
    }
}

extension Trait where Self == LiveMixTrait {
    /// A private namespace holding the known socket mix (plus `extraPairs` established pairs) for the suite.
    static func liveMix(extraPairs: Int = 0) -> Self { LiveMixTrait(extraPairs: extraPairs) }
}

/// Tuples of records, checking that no socket came twice.
func tupleSet(_ records: [SocketRecord], sourceLocation: SourceLocation = #_sourceLocation) -> Set<SocketTuple> {
    let set = Set(records.map(SocketTuple.init))
    #expect(set.count == records.count, "a socket was reported twice", sourceLocation: sourceLocation)
    return set
}

/// Expects two tuple sets to be equal, printing what differs.
func expectSame(
    _ actual: Set<SocketTuple>, _ expected: Set<SocketTuple>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let difference = TupleDifference(expected: expected, actual: actual)
    #expect(difference.isEmpty, "\(what):\n\(difference)", sourceLocation: sourceLocation)
}
