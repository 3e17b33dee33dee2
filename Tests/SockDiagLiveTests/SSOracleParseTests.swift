import SockDiag
import SockScanTestSupport
import Testing

/// The `ss` line parser the live suites trust as an oracle, on lines as `ss -nH` prints them.
@Suite("ss output parsing")
struct SSOracleParseTests {
    /// An endpoint from address text and port.
    static func endpoint(_ address: String, _ port: UInt16) -> Endpoint {
        Endpoint(address: IPAddress(address)!, port: port)
    }

    @Test("a full -tuanH line, an IPv6 one, UNCONN with * ports")
    func columns() throws {
        let tcp = try #require(SSOracle.parse("tcp ESTAB 0 0 127.0.0.1:7001 127.0.0.1:45092", proto: nil, state: nil))
        #expect(tcp.proto == .tcp && tcp.family == .inet && tcp.state == .established)
        #expect(tcp.local == Self.endpoint("127.0.0.1", 7001) && tcp.remote == Self.endpoint("127.0.0.1", 45092))

        let v6 = try #require(SSOracle.parse("tcp TIME-WAIT 0 0 [::1]:51022 [::1]:7006", proto: nil, state: nil))
        #expect(v6.family == .inet6 && v6.state == .timeWait && v6.local == Self.endpoint("::1", 51022))

        let udp = try #require(SSOracle.parse("udp UNCONN 0 0 [::1]:7103 [::]:*", proto: nil, state: nil))
        #expect(udp.proto == .udp && udp.state == .close && udp.remote == Self.endpoint("::", 0))
    }

    @Test("no Netid column (one protocol), no State column (one state)")
    func missingColumns() throws {
        let noNetid = try #require(SSOracle.parse("LISTEN 0 4096 0.0.0.0:7002 0.0.0.0:*", proto: .tcp, state: nil))
        #expect(noNetid.proto == .tcp && noNetid.state == .listen && noNetid.local == Self.endpoint("0.0.0.0", 7002))

        let neither = try #require(SSOracle.parse("0 0 127.0.0.1:45104 127.0.0.1:7001", proto: .tcp, state: .timeWait))
        #expect(neither.state == .timeWait && neither.remote == Self.endpoint("127.0.0.1", 7001))

        let noState = try #require(
            SSOracle.parse("udp 0 0 127.0.0.1:7102 127.0.0.1:7101", proto: nil, state: .established))
        #expect(noState.proto == .udp && noState.state == .established)
    }

    @Test("a dual-stack wildcard `*`, a %device suffix")
    func quirks() throws {
        let star = try #require(SSOracle.parse("tcp LISTEN 0 128 *:22 *:*", proto: nil, state: nil))
        #expect(star.family == .inet6 && star.local == Self.endpoint("::", 22) && star.remote == Self.endpoint("::", 0))

        let device = try #require(SSOracle.parse("tcp LISTEN 0 5 [fe80::1]%lo:80 [::]:*", proto: nil, state: nil))
        #expect(device.local == Self.endpoint("fe80::1", 80))

        let v4Device = try #require(SSOracle.parse("udp UNCONN 0 0 127.0.0.1%lo:53 0.0.0.0:*", proto: nil, state: nil))
        #expect(v4Device.local == Self.endpoint("127.0.0.1", 53) && v4Device.family == .inet)
    }

    @Test(
        "lines of another shape are refused",
        arguments: ["", "tcp", "tcp ESTAB 0 0 127.0.0.1:1", "tcp BOGUS 0 0 a:1 b:2"])
    func refused(line: String) {
        #expect(SSOracle.parse(line, proto: nil, state: nil) == nil)
    }
}
