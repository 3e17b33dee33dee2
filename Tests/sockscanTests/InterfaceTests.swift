import SockDiag
import SockScanTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Interface indexes belong to a namespace: names in the table and `dev NAME` in filters must be looked
/// up in the scanned namespace, not in sockscan's own.
@Suite("Interfaces of the scanned namespace")
struct InterfaceTests {
    @Test("a socket bound to a device of another namespace shows that device's name, and dev NAME finds it")
    func boundDevice() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // A veth device whose name does not exist in the host namespace (no dummy driver everywhere).
        let added = try namespace.exec(
            "ip", ["link", "add", "sockscan7", "type", "veth", "peer", "name", "sockscan7p"])
        try #require(added.status == 0, "\(added)")
        let fd: Int32 = try namespace.run {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError("socket") }
            let name = "sockscan7"
            let rc = name.withCString {
                setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(name.utf8.count + 1))
            }
            guard rc == 0 else { throw SystemCallError("SO_BINDTODEVICE") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(7555).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 8) == 0 else { throw SystemCallError("bind/listen") }
            return fd
        }
        defer { close(fd) }
        let listed = try Binary.run(["list", "-tlH", "--netns", namespace.name])
        #expect(listed.status == 0, "\(listed)")
        #expect(listed.stdout.contains("0.0.0.0%sockscan7:7555"), "\(listed.stdout)")
        let filtered = try Binary.run(["list", "-taH", "--netns", namespace.name, "dev", "sockscan7"])
        #expect(filtered.status == 0, "\(filtered)")
        #expect(filtered.lines.count == 1, "\(filtered.stdout)")
        // ss agrees on the name.
        let ss = try namespace.exec("ss", ["-tlnH"])
        #expect(ss.stdout.contains("%sockscan7:7555"), "\(ss.stdout)")
        // A device name the scanned namespace does not have is a usage error.
        let unknown = try Binary.run(["list", "-ta", "--netns", namespace.name, "dev", "nosuchdev0"])
        #expect(unknown.status == 64, "\(unknown)")
        #expect(unknown.stderr.contains("nosuchdev0"))
    }
}
