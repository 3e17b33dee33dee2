import Foundation
import SockDiag
import SockScanTestSupport
import Testing

typealias Binary = SockscanBinary

/// The namespace and mix of the running test (``MixTrait``).
typealias CLIFixture = MixFixture

extension MixFixture {
    /// Runs `sockscan SUBCOMMAND --netns NAME arguments…`.
    func sockscan(_ subcommand: String, _ arguments: [String]) throws -> CommandResult {
        try Binary.run([subcommand, "--netns", namespace.name] + arguments)
    }
}

extension Trait where Self == MixTrait {
    static func cliMix(extraPairs: Int) -> Self { MixTrait(extraPairs: extraPairs) }
}

func expectSame(
    _ actual: Set<SocketTuple>, _ expected: Set<SocketTuple>, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let difference = TupleDifference(expected: expected, actual: actual)
    #expect(difference.isEmpty, "\(what):\n\(difference)", sourceLocation: sourceLocation)
}
