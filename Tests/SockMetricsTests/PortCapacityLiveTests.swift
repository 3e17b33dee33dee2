import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan metrics` and `sockscan ports` agree on the capacity and the utilization of a namespace
/// where a connection was made from an explicitly bound port inside the range (taken from every
/// destination) and others from ephemeral ports.
@Suite("metrics agree with ports")
struct PortCapacityLiveTests {
    @Test func capacityAndUtilizationMatchThePortsCommand() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let descriptors = try namespace.run { () throws -> [Int32] in
            var fds: [Int32] = []
            do {
                let listener = try Self.tcpSocket()
                fds.append(listener)
                try Self.bind(listener, port: 7001)
                guard listen(listener, 64) == 0 else { throw SystemCallError("listen") }
                // One client bound explicitly to 40000 (inside 32768-60999), three left to connect().
                let bound = try Self.tcpSocket()
                fds.append(bound)
                try Self.bind(bound, port: 40000)
                try Self.connect(bound, port: 7001)
                for _ in 0..<3 {
                    let client = try Self.tcpSocket()
                    fds.append(client)
                    try Self.connect(client, port: 7001)
                }
            } catch {
                for fd in fds { close(fd) }
                throw error
            }
            return fds
        }
        defer { for fd in descriptors { close(fd) } }

        let metrics = try SockscanBinary.run(["metrics", "--netns", namespace.name])
        #expect(metrics.status == 0, "\(metrics)")
        let text = try ExpositionText(metrics.stdout)
        let ports = try SockscanBinary.run(["ports", "--netns", namespace.name, "--format", "json"])
        let json = try JSONSerialization.jsonObject(with: Data(ports.stdout.utf8)) as? [String: Any]
        let range = try #require(json?["range"] as? [String: Any])
        let capacity = try #require(range["capacity"] as? Int)
        let size = try #require(range["size"] as? Int)
        #expect(capacity == size - 1, "port 40000 is taken from every destination")
        #expect(text.value("sockscan_ephemeral_ports_capacity") == Double(capacity))

        let destinations = try #require(json?["destinations"] as? [[String: Any]])
        let top = try #require(destinations.first)
        #expect(top["used"] as? Int == 3)
        let ratio = text.value(
            "sockscan_port_utilization_ratio",
            ["local_address": "127.0.0.1", "remote_address": "127.0.0.1", "remote_port": "7001"])
        #expect(ratio == 3.0 / Double(capacity))
        #expect(text.value("sockscan_port_destinations") == 1)
        #expect(
            text.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "established"]) == 8)
    }

    /// With `tcp_tw_reuse` applying (the default 2 on loopback), aged TIME_WAIT is held but not blocked:
    /// `sockscan_port_blocked_ratio` leaves it out as the `ports` verdict does; the utilization keeps it.
    @Test func blockedRatioLeavesOutReusableTimeWait() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        _ = try namespace.exec("sysctl", ["-qw", "net.ipv4.tcp_tw_reuse=2"])  // TestNamespace sets 0
        let descriptors = try namespace.run { () throws -> [Int32] in
            var fds: [Int32] = []
            do {
                let listener = try Self.tcpSocket()
                fds.append(listener)
                try Self.bind(listener, port: 7001)
                guard listen(listener, 64) == 0 else { throw SystemCallError("listen") }
                for i in 0..<8 {
                    let client = try Self.tcpSocket()
                    try Self.connect(client, port: 7001)
                    let server = accept(listener, nil, nil)
                    guard server >= 0 else { throw SystemCallError("accept") }
                    if i < 5 {
                        close(client)  // client first: the client end goes to TIME_WAIT
                        usleep(20_000)
                        close(server)
                    } else {
                        fds += [client, server]
                    }
                }
            } catch {
                for fd in fds { close(fd) }
                throw error
            }
            return fds
        }
        defer { for fd in descriptors { close(fd) } }
        usleep(1_300_000)  // older than tcp_tw_reuse_delay (1 s)

        let metrics = try SockscanBinary.run(["metrics", "--netns", namespace.name])
        #expect(metrics.status == 0, "\(metrics)")
        let text = try ExpositionText(metrics.stdout)
        let ports = try SockscanBinary.run(["ports", "--netns", namespace.name, "--format", "json"])
        let json = try JSONSerialization.jsonObject(with: Data(ports.stdout.utf8)) as? [String: Any]
        let top = try #require((json?["destinations"] as? [[String: Any]])?.first)
        #expect(top["used"] as? Int == 8)
        #expect(top["reusable_time_wait"] as? Int == 5)
        let labels = ["local_address": "127.0.0.1", "remote_address": "127.0.0.1", "remote_port": "7001"]
        let utilization = try #require(text.value("sockscan_port_utilization_ratio", labels))
        let blocked = try #require(text.value("sockscan_port_blocked_ratio", labels))
        #expect(abs(utilization - (top["utilization"] as? Double ?? -1)) < 1e-4)
        #expect(abs(blocked - (top["effective_utilization"] as? Double ?? -1)) < 1e-4)
        #expect(blocked < utilization)
    }

    static func tcpSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        return fd
    }

    static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    static func bind(_ fd: Int32, port: UInt16) throws {
        var address = loopback(port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw SystemCallError("bind 127.0.0.1:\(port)") }
    }

    static func connect(_ fd: Int32, port: UInt16) throws {
        var address = loopback(port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw SystemCallError("connect 127.0.0.1:\(port)") }
    }
}
