import Testing

@testable import SockDiag

/// What `ss` users type, read as `ss` (iproute2 6.x `misc/ss.c`, `lib/utils.c`) reads it.
@Suite("Filter language: ss's spellings of states, addresses and ports")
struct FilterSSSyntaxTests {
    /// Names the parser may resolve in these tests: no lookup leaves the process.
    static let hosts = HostResolver.table([
        "web": [.v4(IPv4Address(192, 0, 2, 10)), .v6(IPv6Address("2001:db8::10")!), .v4(IPv4Address(192, 0, 2, 11))],
        "v6only.example": [.v6(IPv6Address("2001:db8::20")!)],
        "localhost": [.v4(.loopback), .v6(.loopback)],
    ])

    @Test(
        "spellings parse to the expression ss means (printed fully parenthesised)",
        arguments: [
            // ss's state names beside the kernel's.
            ("state unconnected", "state close"),
            ("state syn-rcv", "state syn-recv"),
            ("state SYN-RCV", "state syn-recv"),
            ("exclude unconnected", "not state close"),
            // iproute2's IPv4 reading: each part decimal, octal or hex, missing bytes zero (not inet_aton's).
            ("src 127.1", "src 127.1.0.0"),
            ("src 10.8/16", "src 10.8.0.0/16"),
            ("src 0x7f.0.0.1", "src 127.0.0.1"),
            ("src 0177.0.0.01", "src 127.0.0.1"),
            ("dst 0x7f.0x0.0.0x1:80", "dst 127.0.0.1:80"),
            // What is not iproute2's form goes to the resolver as ss does; glibc reads digits and dots there
            // as inet_aton does.
            ("src 2130706433", "src 127.0.0.1"),
            ("src 017700000001", "src 127.0.0.1"),
            ("src 127.0.1", "src 127.0.1.0"),
            // A dotted netmask as the prefix, as ip and ss take it.
            ("dst 10.0.0.0/255.0.0.0", "dst 10.0.0.0/8"),
            ("dst 10.0.0.0/0x10", "dst 10.0.0.0/16"),
            // Ports: hex and octal as strtol reads them.
            ("sport = :0x1b59", "sport = :7001"),
            ("sport = :015531", "sport = :7001"),
            ("sport = 0x1b59", "sport = :7001"),
            ("dst 127.0.0.1:0x50", "dst 127.0.0.1:80"),
            ("dst *:0x1bb", "dst *:443"),
            ("src 1.2.3.4:", "src 1.2.3.4"),
            // any/all/default: every address, as '*'.
            ("dst any", "dst *"),
            ("dst all", "dst *"),
            ("dst default", "dst *"),
            ("dst any:443", "dst *:443"),
            ("src != any", "not src *"),
            // inet:/inet6: say the family: the address must be of it, and '*' or 'any' is its whole space.
            ("src inet:127.0.0.1", "src 127.0.0.1"),
            ("src inet:*", "src 0.0.0.0/0"),
            ("src inet:any:22", "src 0.0.0.0/0:22"),
            ("dst inet6:*", "dst [::]/0"),
            ("dst inet6:[::1]:80", "dst [::1]:80"),
            ("dst inet6:::1", "dst [::1]"),
            // Host names: every address, once, as an or of conditions (IPv4 first, as ss lists them).
            ("src web", "((src 192.0.2.10 or src 192.0.2.11) or src [2001:db8::10])"),
            ("dst web:443", "((dst 192.0.2.10:443 or dst 192.0.2.11:443) or dst [2001:db8::10]:443)"),
            ("dst inet:web", "(dst 192.0.2.10 or dst 192.0.2.11)"),
            ("dst inet6:web", "dst [2001:db8::10]"),
            ("dst != localhost", "not (dst 127.0.0.1 or dst [::1])"),
            ("src localhost and dport = :80", "((src 127.0.0.1 or src [::1]) and dport = :80)"),
        ])
    func spellings(input: String, printed: String) throws {
        let filter = try Filter(parsing: input, hosts: Self.hosts)
        #expect(filter.description == printed)
        #expect(try Filter(parsing: filter.description, hosts: .none) == filter)
    }

    @Test(
        "what ss refuses or truncates is an error that says what is allowed",
        arguments: [
            ("dport = :65536", 8, "0 to 65535"),
            ("dport = :0x10000", 8, "0 to 65535"),
            ("dport = :-1", 8, "expected a port"),
            ("src 1.2.3.4:70000", 4, "0 to 65535"),
            ("src 256.1", 4, "expected an address"),
            ("src 08.0.0.1", 4, "expected an address"),
            ("src 1.2.3.4.5", 4, "expected an address"),
            ("src inet:[::1]", 4, "'inet:' takes an IPv4 address"),
            ("src inet6:127.0.0.1", 4, "'inet6:' takes an IPv6 address"),
            ("src inet6:v4only", 4, "no IPv6 address"),
            ("dst nosuchname", 4, "cannot resolve 'nosuchname'"),
            ("dst web/24", 4, "prefix length needs an address"),
            ("dst any/8", 4, "prefix length needs an address"),
            ("dst 10.0.0.0/255.0.255.0", 4, "expected a prefix length"),
            ("src unix:/run/x.sock", 4, "TCP and UDP"),
            ("state new-syn-recv", 6, "unknown state"),
        ])
    func refusals(input: String, offset: Int, message: String) {
        let hosts = HostResolver.table(["v4only": [.v4(IPv4Address(192, 0, 2, 1))], "web": [.v4(.loopback)]])
        do {
            let filter = try Filter(parsing: input, hosts: hosts)
            Issue.record("'\(input)' parsed as \(filter)")
        } catch {
            #expect(error.offset == offset, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test("a name goes to the resolver once; an address, a number or '*' never does")
    func resolverCalls() throws {
        let asked = Asked()
        let hosts = HostResolver { name in
            asked.add(name)
            return name == "web" ? .success([.v4(.loopback)]) : .failure(HostResolver.Failure("not found"))
        }
        _ = try Filter(
            parsing: "src web or dst web:80 or src 10.1 or dst [::1] or src * or dst 2130706433", hosts: hosts)
        #expect(asked.names == ["web", "web"])
        #expect(throws: FilterParseError.self) { try Filter(parsing: "dst 300.1.1.1", hosts: hosts) }
        #expect(throws: FilterParseError.self) { try Filter(parsing: "dst a..b", hosts: hosts) }
        #expect(asked.names == ["web", "web"])
    }

    @Test("the system resolver reads localhost from /etc/hosts")
    func systemResolver() throws {
        let addresses = try HostResolver.system.addresses(of: "localhost").get()
        #expect(addresses.contains(.v4(.loopback)))
        #expect(Set(addresses).count == addresses.count)
    }

    @Test(
        "IPv4 readers: iproute2's and inet_aton's",
        arguments: [
            ("10", IPv4Address(10, 0, 0, 0), IPv4Address(0, 0, 0, 10)),
            ("127.1", IPv4Address(127, 1, 0, 0), IPv4Address(127, 0, 0, 1)),
            ("1.2.3", IPv4Address(1, 2, 3, 0), IPv4Address(1, 2, 0, 3)),
            ("0x7f.1", IPv4Address(127, 1, 0, 0), IPv4Address(127, 0, 0, 1)),
            ("255.255.255.255", IPv4Address(255, 255, 255, 255), IPv4Address(255, 255, 255, 255)),
        ])
    func ipv4Readers(text: String, iproute2: IPv4Address, inetAton: IPv4Address) {
        #expect(IPv4Address(iproute2: text) == iproute2)
        #expect(IPv4Address(inetAton: text) == inetAton)
    }

    @Test(
        "IPv4 readers refuse",
        arguments: ["", ".", "1.", ".1", "1..2", "1.2.3.4.", "0x", "08", "1.2.3.256", "1e3", " 1", "+1", "-1"])
    func ipv4Refusals(text: String) {
        #expect(IPv4Address(iproute2: text) == nil)
        #expect(IPv4Address(inetAton: text) == nil)
    }

    @Test("inet_aton's wide last part")
    func inetAtonWide() {
        #expect(IPv4Address(inetAton: "4294967295") == IPv4Address(255, 255, 255, 255))
        #expect(IPv4Address(inetAton: "4294967296") == nil)
        #expect(IPv4Address(inetAton: "1.16777215") == IPv4Address(1, 255, 255, 255))
        #expect(IPv4Address(inetAton: "1.16777216") == nil)
        #expect(IPv4Address(inetAton: "1.2.65535") == IPv4Address(1, 2, 255, 255))
        #expect(IPv4Address(inetAton: "1.2.65536") == nil)
    }
}

/// Names a test resolver was asked for.
private final class Asked: @unchecked Sendable {
    private(set) var names: [String] = []
    func add(_ name: String) { names.append(name) }
}
