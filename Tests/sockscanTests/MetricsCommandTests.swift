import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Runs `script` with `sh` in a private mount namespace (`unshare -m`): what it mounts there, over `/dev`
/// too, never reaches the host. `$1` is the sockscan binary, then `arguments`.
private func inPrivateMountNamespace(_ script: String, _ arguments: [String]) throws -> CommandResult {
    try Command.run(
        "unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", SockscanBinary.path] + arguments,
        timeout: 60)
}

/// `sockscan metrics` run as a user runs it, on a private namespace holding a known socket mix, or on one a
/// test makes.
@Suite("metrics", .cliMix(extraPairs: 0))
struct MetricsCommandTests {
    @Test func metricsCommandMatchesTheMixAndPassesPromtool() throws {
        let fixture = try CLIFixture.require()
        let result = try SockscanBinary.run(["metrics", "--netns", fixture.namespace.name, "--top", "100"])
        #expect(result.status == 0, "\(result)")
        let text = try ExpositionText(result.stdout)
        fixture.expectSocketCounts(text)
        #expect(fixture.expected(.tcp, .inet, .timeWait) > 0)
        #expect(fixture.expected(.tcp, .inet6, .established) > 0)
        // sockstat's TIME_WAIT total is the namespace's, both families.
        let timeWait = fixture.mix.expected { $0.proto == .tcp && $0.state == .timeWait }.count
        #expect(text.value("sockscan_sockstat_tcp_time_wait_sockets") == Double(timeWait))
        try expectPorts(text, fixture)
        #expect(text.value("sockscan_build_info", ["version": "0.1.0"]) == 1)
        #expect(text.value("sockscan_kernel_dumps_total") == nil)
        let check = try Promtool.checkMetrics(result.stdout)
        #expect(check.status == 0 && check.stderr.isEmpty, "\(check.stderr)")
    }

    @Test func metricsTextfileIsWrittenAtomically() throws {
        let fixture = try CLIFixture.require()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-tf-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sockscan.prom").path
        let result = try SockscanBinary.run(["metrics", "--netns", fixture.namespace.name, "--textfile", path])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        fixture.expectSocketCounts(try ExpositionText(written))
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o644)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sockscan.prom"])
        // OpenMetrics goes to stdout only.
        let both = try SockscanBinary.run(["metrics", "--textfile", path, "--format", "openmetrics"])
        #expect(both.status == 64)
        // A directory is a usage error that says what to give instead, and nothing is written beside it.
        let onDirectory = try SockscanBinary.run(["metrics", "--textfile", directory.path])
        #expect(onDirectory.status == 64, "\(onDirectory)")
        #expect(onDirectory.stderr.contains("is a directory"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["sockscan.prom"])
    }

    @Test func metricsOpenMetricsAndTopZero() throws {
        let fixture = try CLIFixture.require()
        let result = try SockscanBinary.run([
            "metrics", "--netns", fixture.namespace.name, "--format", "openmetrics", "--top", "0",
        ])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.hasSuffix("# EOF\n"))
        #expect(result.stdout.contains("# TYPE sockscan_build info\n"))
        #expect(!result.stdout.contains("sockscan_port_utilization_ratio"))
        fixture.expectSocketCounts(try ExpositionText(result.stdout))
    }

    /// Without --netns the namespace is the process's own: always up.
    @Test func metricsWithoutNetnsIsUp() throws {
        let result = try SockscanBinary.run(["metrics", "--top", "0"])
        #expect(result.status == 0, "\(result)")
        #expect(try ExpositionText(result.stdout).value("sockscan_namespace_up") == 1)
    }
    /// `sockscan metrics` and `sockscan ports` agree on the capacity and the utilization of a namespace
    /// where a connection was made from an explicitly bound port inside the range (taken from every
    /// destination) and others from ephemeral ports.
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

    // --textfile: what only the command can show (a private mount namespace); Textfile's own tests are
    // SockMetricsTests' TextfileSafetyTests.

    /// `sockscan metrics --textfile /dev/null` in a private mount namespace whose `/dev` is a scratch
    /// directory holding its own `null` device (the host's is never at risk): exit 1 naming it, the device
    /// left a device.
    @Test func devNullIsNotReplaced() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        #expect(mknod(scratch.file("null"), S_IFCHR | 0o666, nullDevice) == 0)
        let result = try inPrivateMountNamespace(
            #"mount --bind "$2" /dev && exec "$1" metrics --textfile /dev/null"#, [scratch.path])
        #expect(result.status == 1, "\(result)")
        // After the warning that the name is not *.prom.
        #expect(
            result.stderr.hasSuffix(
                "\nsockscan: cannot write /dev/null: it is a character device, not a regular file; only a "
                    + "regular file is replaced\n"), "\(result.stderr)")
        #expect(fileType(scratch.file("null")) == S_IFCHR)
        #expect(try scratch.names() == ["null"])
    }

    /// When the temporary file fails (it cannot be created: a read-only file system; or written: a full
    /// one), the message names it and what it was for, and no temporary file is left.
    @Test func failuresNameTheTemporaryFile() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        let target = scratch.file("t3.prom")
        let full = try inPrivateMountNamespace(
            #"""
            mount -t tmpfs -o size=16k tmpfs "$2" || exit 99
            dd if=/dev/zero of="$2/fill" bs=4k count=64 2>/dev/null
            "$1" metrics --textfile "$2/t3.prom"; echo "status $?"; ls -A "$2"
            """#, [scratch.path])
        #expect(full.stdout == "status 1\nfill\n", "\(full)")
        let prefix = "sockscan: cannot write \(target): cannot write the temporary file \(scratch.path)/.t3.prom."
        #expect(full.stderr.hasPrefix(prefix), "\(full.stderr)")
        #expect(full.stderr.hasSuffix(".tmp: No space left on device\n"), "\(full.stderr)")

        let readOnly = try inPrivateMountNamespace(
            #"""
            mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" || exit 99
            "$1" metrics --textfile "$2/t3.prom"; echo "status $?"
            """#, [scratch.path])
        #expect(readOnly.stdout == "status 1\n", "\(readOnly)")
        let create = "sockscan: cannot write \(target): cannot create the temporary file \(scratch.path)/.t3.prom."
        #expect(readOnly.stderr.hasPrefix(create), "\(readOnly.stderr)")
        #expect(readOnly.stderr.hasSuffix(".tmp: Read-only file system\n"), "\(readOnly.stderr)")
        #expect(try scratch.names() == [])
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
