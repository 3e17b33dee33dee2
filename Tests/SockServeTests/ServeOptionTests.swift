import SockReport
import SockServe
import Testing

@Suite("serve options")
struct ServeOptionTests {
    @Test(arguments: [
        ("127.0.0.1:9464", "127.0.0.1", 9464, true),
        ("localhost:80", "127.0.0.1", 80, true),
        ("[::1]:9464", "::1", 9464, true),
        ("127.1.2.3:0", "127.1.2.3", 0, true),
        ("[::ffff:127.0.0.1]:9", "::ffff:127.0.0.1", 9, true),
        ("0.0.0.0:9464", "0.0.0.0", 9464, false),
        ("[::]:9464", "::", 9464, false),
        ("192.0.2.1:9464", "192.0.2.1", 9464, false),
    ])
    func validAddresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.isLoopback == loopback)
    }

    @Test(arguments: [
        "", "9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http",
        "example.com:80", "::1:9464", "[::1]", "[::1]9464", "[127.0.0.1]:80", "300.0.0.1:80", "[::1:80",
    ])
    func invalidAddresses(text: String) {
        #expect(throws: ListenAddressError.self) { try ListenAddress(parsing: text) }
    }

    @Test func descriptionBracketsIPv6() throws {
        #expect(try ListenAddress(parsing: "[::1]:9").description == "[::1]:9")
        #expect(ListenAddress.defaultValue.description == "127.0.0.1:9464")
    }

    @Test(arguments: [
        ("1s", Duration.seconds(1)), ("0", .zero), ("0s", .zero), ("500ms", .milliseconds(500)),
        ("1.5s", .milliseconds(1500)), ("2m", .seconds(120)), ("3", .seconds(3)),
    ])
    func cacheDurations(text: String, expected: Duration) {
        #expect(
            (try? TimeSpan(parsing: text, syntax: .cacheLifetime)).map { Duration.milliseconds($0.milliseconds) }
                == expected)
    }

    @Test(arguments: ["", "s", "-1s", "1h", "abc", "1e3s", "2d", "90000s"])
    func invalidCacheDurations(text: String) {
        #expect((try? TimeSpan(parsing: text, syntax: .cacheLifetime)) == nil)
    }
}
