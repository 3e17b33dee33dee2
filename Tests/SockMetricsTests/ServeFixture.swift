import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// A program left running in the background (a server), output to temporary files, always ended:
/// ``stop(_:grace:)`` sends a signal and waits, then SIGKILL; `deinit` kills what is still running.
final class BackgroundProcess: @unchecked Sendable {
    let child: SpawnedProcess
    let name: String
    private let outURL: URL
    private let errURL: URL
    private var exit: (status: Int32, signaled: Bool)?

    init(_ executable: String, _ arguments: [String]) throws {
        name = ([executable] + arguments).joined(separator: " ")
        let stem = "sockscan-bg-\(getpid())-\(UUID().uuidString)"
        outURL = FileManager.default.temporaryDirectory.appendingPathComponent(stem + ".out")
        errURL = FileManager.default.temporaryDirectory.appendingPathComponent(stem + ".err")
        let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            close(out)
            close(err)
        }
        // posix_spawn, not Foundation's Process, whose run() crashes now and then (see Command).
        child = try SpawnedProcess(path: try Command.locate(executable), arguments: arguments, stdout: out, stderr: err)
    }

    deinit {
        if isRunning {
            kill(child.pid, SIGKILL)
            _ = child.wait()
        }
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }

    var stdout: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Whether it still runs (reaps it when it has ended).
    var isRunning: Bool {
        if exit == nil { exit = child.poll() }
        return exit == nil
    }

    /// Waits (at most `timeout` s) until stderr has a line containing `marker`, and returns the line.
    func waitForLine(containing marker: String, timeout: Double = 10) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        for _ in 0..<Int(timeout * 100) + 1 {
            if let line = stderr.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            if !isRunning || Date() > deadline { break }
            usleep(10_000)
        }
        throw CommandError("\(name): no '\(marker)' on stderr (running: \(isRunning)): \(stderr)")
    }

    /// Sends `signal`, waits at most `grace` seconds for the exit, then kills.
    /// - Returns: the exit status (128 + the signal when one ended it), nil when it had to be killed.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, grace: Double = 5) -> Int32? {
        if isRunning { kill(child.pid, signal) }
        if exit == nil { exit = child.wait(timeout: grace) }
        guard let exit else {
            kill(child.pid, SIGKILL)
            self.exit = child.wait()
            return nil
        }
        return exit.status
    }
}

/// `sockscan serve …` in the background, on a port the kernel chose.
final class ServeProcess: @unchecked Sendable {
    let background: BackgroundProcess
    let port: Int

    /// Starts `sockscan serve --listen 127.0.0.1:0 arguments…` and waits for its "serving" line.
    init(_ arguments: [String], listen: String = "127.0.0.1:0", via prefix: [String] = []) throws {
        let command = prefix.isEmpty ? SockscanBinary.path : prefix[0]
        let rest = prefix.isEmpty ? [] : Array(prefix.dropFirst()) + [SockscanBinary.path]
        background = try BackgroundProcess(command, rest + ["serve", "--listen", listen] + arguments)
        let line = try background.waitForLine(containing: "serving http://")
        guard let colon = line.range(of: "/metrics")?.lowerBound,
            let port = Int(line[..<colon].split(separator: ":").last ?? "")
        else { throw CommandError("no port in '\(line)'") }
        self.port = port
    }

    func get(_ path: String = "/metrics", headers: [String: String] = [:]) throws -> HTTPReply {
        try TestHTTP.get(port: port, path: path, headers: headers)
    }

    /// The exposition, parsed.
    func metrics(openMetrics: Bool = false) throws -> ExpositionText {
        let reply = try get(headers: openMetrics ? ["Accept": "application/openmetrics-text; version=1.0.0"] : [:])
        guard reply.status == 200 else { throw CommandError("GET /metrics: \(reply.status) \(reply.body)") }
        return try ExpositionText(reply.body)
    }
}

/// A ``TestNamespace`` with a ``SocketMix``, shared by a suite.
final class MetricsFixture: Sendable {
    let namespace: TestNamespace
    let mix: SocketMix

    @TaskLocal static var current: MetricsFixture?

    init(namespace: TestNamespace, mix: SocketMix) {
        self.namespace = namespace
        self.mix = mix
    }

    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> MetricsFixture {
        try #require(
            current, "no MetricsFixture: the suite needs the .metricsMix trait", sourceLocation: sourceLocation)
    }

    /// The mix's sockets of `proto` and `family` in `state`.
    func expected(_ proto: TransportProtocol, _ family: AddressFamily, _ state: TCPState) -> Int {
        mix.expected { $0.proto == proto && $0.family == family && $0.state == state }.count
    }

    /// Checks every `sockscan_sockets` series against the mix.
    func expectSocketCounts(_ text: ExpositionText, sourceLocation: SourceLocation = #_sourceLocation) {
        var checked = 0
        for proto in TransportProtocol.allCases {
            for family in AddressFamily.allCases {
                for state in proto == .tcp ? TCPState.allCases : [.established, .close] {
                    let value = text.value(
                        "sockscan_sockets",
                        ["proto": proto.description, "family": family.description, "state": state.name])
                    #expect(
                        value == Double(expected(proto, family, state)), "\(proto) \(family) \(state)",
                        sourceLocation: sourceLocation)
                    checked += 1
                }
            }
        }
        #expect(text.samples(named: "sockscan_sockets").count == checked, sourceLocation: sourceLocation)
    }
}

struct MetricsMixTrait: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let mix = try SocketMix(in: namespace)
        defer { mix.close() }
        try await MetricsFixture.$current.withValue(MetricsFixture(namespace: namespace, mix: mix)) {
            try await function()
        }
    }
}

extension Trait where Self == MetricsMixTrait {
    static var metricsMix: Self { MetricsMixTrait() }
}
