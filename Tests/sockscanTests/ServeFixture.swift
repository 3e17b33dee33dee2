import Foundation
import SockDiag
import SockReport
import SockScanTestSupport
import Testing

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

/// Checks of an exposition against the fixture's mix (`metrics` and `serve`).
extension MixFixture {
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

/// Port utilization per destination equals what the mix's outgoing connections hold.
func expectPorts(_ text: ExpositionText, _ fixture: MixFixture) throws {
    let settings = try PortSettings.read(namespace: fixture.namespace.namespace)
    let capacity = settings.range.count - settings.reservedInRange
    #expect(text.value("sockscan_ephemeral_ports_capacity") == Double(capacity))
    var used: [String: Int] = [:]
    for tuple in fixture.mix.expected
    where tuple.proto == .tcp && tuple.state != .listen && tuple.state != .close
        && settings.range.contains(tuple.local.port)
    {
        let d = Destination(
            localAddress: tuple.local.address, remoteAddress: tuple.remote.address, remotePort: tuple.remote.port)
        let key = ExpositionText.key(
            "sockscan_port_utilization_ratio",
            [
                "local_address": d.localAddress.description, "remote_address": d.remoteAddress.description,
                "remote_port": String(d.remotePort),
            ])
        used[key, default: 0] += 1
    }
    #expect(!used.isEmpty)
    let exposed = text.samples(named: "sockscan_port_utilization_ratio")
    #expect(exposed == used.mapValues { Double($0) / Double(capacity) })
    #expect(text.value("sockscan_port_destinations") == Double(used.count))
}
