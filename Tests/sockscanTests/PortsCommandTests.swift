import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan ports` as cron runs it, on private namespaces whose port range is narrowed to 40 ports (loopback
/// only, `tcp_tw_reuse=0`); the report against the kernel is SockReportTests' PortExhaustionLiveTests.
@Suite("ports", .serialized)
struct PortsCommandTests {
    static let low: UInt16 = 40000
    static let high: UInt16 = 40039
    static let rangeSize = 40
    /// Destination A's and B's listeners, outside the range.
    static let portA: UInt16 = 7501
    static let portB: UInt16 = 7502

    /// A destination that ran out of ports, its clients' last 15 closed (TIME_WAIT holds their ports), and
    /// another one with 5 connections: the exit status and the verdict for `--fail-at`, and the JSON report.
    @Test func exhaustedDestinationIsFullAndOthersAreNot() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let load = PortLoad(in: namespace)
        defer { load.close() }
        try load.sysctl("net/ipv4/ip_local_port_range", "\(Self.low) \(Self.high)")
        let a = try load.listener("127.0.0.1", Self.portA)
        let b = try load.listener("127.0.0.2", Self.portB)
        let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
        try #require(pairs.count == Self.rangeSize)
        let timeWait: UInt64 = 15
        for pair in pairs.prefix(Int(timeWait)) { try load.closeClientFirst(pair) }
        for _ in 0..<5 { try #require(try load.connect("127.0.0.2", Self.portB, listener: b.fd) != nil) }
        // The states move on loopback within milliseconds: wait until the report shows the TIME_WAIT sockets.
        try waitUntil("15 TIME_WAIT sockets to 127.0.0.1:\(Self.portA)", timeout: 3) {
            let json = try Binary.run(["ports", "--netns", namespace.name, "--format", "json"])
            let document = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let first = (document?["destinations"] as? [[String: Any]])?.first
            return (first?["states"] as? [String: Int])?["time-wait"] == Int(timeWait)
        }

        // The CLI as cron would run it.
        let failing = try Binary.run(["ports", "--netns", namespace.name, "--fail-at", "90"])
        #expect(failing.status == 2, "\(failing)")
        #expect(failing.stdout.contains("Verdict: CRITICAL: 127.0.0.1 -> 127.0.0.1:\(Self.portA) uses 40 of 40"))
        let passing = try Binary.run(["ports", "--netns", namespace.name, "--fail-at", "100", "--top", "1"])
        #expect(passing.status == 2, "100% is at the threshold: \(passing)")
        let json = try Binary.run(["ports", "--netns", namespace.name, "--format", "json"])
        #expect(json.status == 0, "\(json)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["verdict"] as? String == "critical")
        let range = try #require(document["range"] as? [String: Any])
        #expect(range["capacity"] as? Int == Self.rangeSize)
        let destinations = try #require(document["destinations"] as? [[String: Any]])
        #expect(destinations.count == 2)
        #expect(destinations.first?["remote_port"] as? Int == Int(Self.portA))
        #expect(destinations.first?["utilization"] as? Double == 1.0)
        let states = try #require(destinations.first?["states"] as? [String: Int])
        #expect(states == ["established": Self.rangeSize - Int(timeWait), "time-wait": Int(timeWait)])
    }

    @Test func emptyNamespaceIsOk() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let cli = try Binary.run(["ports", "--netns", namespace.name, "--fail-at", "1"])
        #expect(cli.status == 0, "\(cli)")
        #expect(cli.stdout.contains("Verdict: OK"))
    }

    @Test(arguments: [
        (["--warn", "101"], "--warn"), (["--critical", "-1"], "--critical"), (["--fail-at", "200"], "--fail-at"),
        (["--warn", "95", "--critical", "90"], "--warn"), (["--top", "0"], "--top"),
    ])
    func usageErrorsExit64(arguments: [String], naming: String) throws {
        let result = try Binary.run(["ports"] + arguments)
        #expect(result.status == 64)
        #expect(result.stderr.contains(naming))
        #expect(result.stdout.isEmpty)
    }

    @Test func missingNamespaceIsARuntimeError() throws {
        let result = try Binary.run(["ports", "--netns", "sockscan-no-such-namespace-\(getpid())"])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("does not exist"))
    }
}
