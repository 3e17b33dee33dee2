import Foundation
import Testing

/// A private namespace holding a ``SocketMix``, shared by the tests of a suite (``MixTrait``).
public final class MixFixture: Sendable {
    public let namespace: TestNamespace
    public let mix: SocketMix
    let created: ContinuousClock.Instant

    init(extraPairs: Int) throws {
        namespace = try TestNamespace()
        do {
            mix = try SocketMix(in: namespace, extraPairs: extraPairs)
        } catch {
            namespace.close()
            throw error
        }
        created = ContinuousClock.now
    }

    func close() {
        mix.close()
        namespace.close()
    }

    /// The fixture for the running test: the suite's newest, or a new one when that is older than 30 s.
    ///
    /// - Throws: a recorded failure when the suite has no mix trait, or what making a fixture throws.
    public static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> MixFixture {
        let pool = try #require(
            MixTrait.pool, "no MixFixture: the suite needs a mix trait", sourceLocation: sourceLocation)
        return try pool.current()
    }
}

/// Fixtures of one suite: the newest is reused while its TIME_WAIT sockets have long to live.
final class MixPool: @unchecked Sendable {
    /// TIME_WAIT lasts 60 s; a test starting on a fixture younger than this has at least 30 s to run.
    static let maxAge: Duration = .seconds(30)
    let extraPairs: Int
    private let lock = NSLock()
    private var fixtures: [MixFixture] = []

    init(extraPairs: Int) { self.extraPairs = extraPairs }

    /// The newest fixture, or a new one when it is too old (a slow machine or a long suite).
    func current() throws -> MixFixture {
        try lock.withLock {
            if let newest = fixtures.last, ContinuousClock.now - newest.created < Self.maxAge { return newest }
            let fixture = try MixFixture(extraPairs: extraPairs)
            fixtures.append(fixture)
            return fixture
        }
    }

    func closeAll() {
        lock.withLock {
            for fixture in fixtures { fixture.close() }
            fixtures.removeAll()
        }
    }
}

/// Gives the tests of a suite a namespace with the known socket mix (``MixFixture/require(sourceLocation:)``):
/// one shared by the suite's tests, made again when it is older than 30 s so that its TIME_WAIT sockets
/// (60 s) are still there when a test looks. Every namespace is removed after the suite, also when a test
/// fails.
public struct MixTrait: SuiteTrait, TestScoping {
    public var extraPairs: Int

    @TaskLocal static var pool: MixPool?

    public init(extraPairs: Int) { self.extraPairs = extraPairs }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // The suite: fixtures live until it ends.
        let pool = MixPool(extraPairs: extraPairs)
        defer { pool.closeAll() }
        try await Self.$pool.withValue(pool) { try await function() }
    }
}
