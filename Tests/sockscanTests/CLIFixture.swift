import Foundation
import SockDiag
import SockScanTestSupport
import Testing

typealias Binary = SockscanBinary

/// The namespace and mix the CLI suite shares.
final class CLIFixture: Sendable {
    let namespace: TestNamespace
    let mix: SocketMix

    @TaskLocal static var current: CLIFixture?

    init(namespace: TestNamespace, mix: SocketMix) {
        self.namespace = namespace
        self.mix = mix
    }

    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> CLIFixture {
        try #require(current, "no CLIFixture: the suite needs the .cliMix trait", sourceLocation: sourceLocation)
    }

    /// Runs `sockscan SUBCOMMAND --netns NAME arguments…`.
    func sockscan(_ subcommand: String, _ arguments: [String]) throws -> CommandResult {
        try Binary.run([subcommand, "--netns", namespace.name] + arguments)
    }
}

/// A ``TestNamespace`` with a ``SocketMix`` around the whole suite.
struct CLIMixTrait: SuiteTrait, TestScoping {
    var extraPairs: Int

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let mix = try SocketMix(in: namespace, extraPairs: extraPairs)
        defer { mix.close() }
        try await CLIFixture.$current.withValue(CLIFixture(namespace: namespace, mix: mix)) {
            try await function()
        }
    }
}

extension Trait where Self == CLIMixTrait {
    static func cliMix(extraPairs: Int) -> Self { CLIMixTrait(extraPairs: extraPairs) }
}

func expectSame(
    _ actual: Set<SocketTuple>, _ expected: Set<SocketTuple>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let difference = TupleDifference(expected: expected, actual: actual)
    #expect(difference.isEmpty, "\(what):\n\(difference)", sourceLocation: sourceLocation)
}
