import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// The built `sockscan` binary: next to this test bundle (`.build/<triple>/debug/`), or
/// `.build/debug/sockscan` of the package, or `$SOCKSCAN_BINARY`.
enum Binary {
    static let path: String = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["SOCKSCAN_BINARY"] { candidates.append(explicit) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(
                URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("sockscan").path)
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("sockscan").path)
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(package.appendingPathComponent(".build/debug/sockscan").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }()

    /// Runs `sockscan arguments…`.
    static func run(_ arguments: [String]) throws -> CommandResult {
        try Command.run(path, arguments, timeout: 30)
    }
}

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
