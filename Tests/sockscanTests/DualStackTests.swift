import SockDiag
import SockScanTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv6 socket bound to `::` takes IPv4 too unless it is v6-only; `ss` tells them apart, printing the
/// dual-stack one as `*:PORT`, from the kernel's `INET_DIAG_SKV6ONLY`.
@Suite("Dual-stack sockets as ss shows them")
struct DualStackTests {
    /// A socket of `type` bound to `[::]:port`, listening if it is TCP, v6-only or not.
    static func bindAny(_ type: Int32, port: UInt16, v6Only: Bool) throws -> Int32 {
        let fd = socket(AF_INET6, type, 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        var flag: Int32 = v6Only ? 1 : 0
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &flag, socklen_t(MemoryLayout<Int32>.size)) == 0
                    && bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
        guard bound, type != Int32(SOCK_STREAM.rawValue) || listen(fd, 8) == 0 else {
            close(fd)
            throw SystemCallError("bind/listen [::]:\(port)")
        }
        return fd
    }

    /// The `Local Peer` address columns of `-H` table rows, keyed by the local port.
    static func addressColumns(_ result: CommandResult) -> [String: String] {
        var columns: [String: String] = [:]
        for line in result.lines {
            let fields = line.split(separator: " ")
            guard fields.count >= 6, let port = fields[4].split(separator: ":").last else { continue }
            columns[String(port)] = "\(fields[4]) \(fields[5])"
        }
        return columns
    }

    @Test("list: [::] of a dual-stack socket prints as *, of a v6-only one as [::], exactly as ss -n prints them")
    func dualStackAsSS() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let tcp = Int32(SOCK_STREAM.rawValue)
        let udp = Int32(SOCK_DGRAM.rawValue)
        let fds = try namespace.run {
            [
                try Self.bindAny(tcp, port: 7300, v6Only: false), try Self.bindAny(tcp, port: 7301, v6Only: true),
                try Self.bindAny(udp, port: 7302, v6Only: false), try Self.bindAny(udp, port: 7303, v6Only: true),
            ]
        }
        defer { for fd in fds { close(fd) } }
        let ours = try SockscanBinary.run(["list", "-tulH", "--netns", namespace.name])
        #expect(ours.status == 0, "\(ours)")
        let ss = try namespace.exec("ss", ["-tulnH"])
        #expect(ss.status == 0, "\(ss)")
        let mine = Self.addressColumns(ours)
        #expect(mine["7300"] == "*:7300 *:*", "\(ours.stdout)")
        #expect(mine["7301"] == "[::]:7301 [::]:*", "\(ours.stdout)")
        #expect(mine["7302"] == "*:7302 *:*", "\(ours.stdout)")
        #expect(mine["7303"] == "[::]:7303 [::]:*", "\(ours.stdout)")
        #expect(mine == Self.addressColumns(ss), "sockscan:\n\(ours.stdout)\nss:\n\(ss.stdout)")
    }
}
