import SockScanTestSupport
import SystemPackage
import Testing

@testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// `ProcNetReader` on lines shaped like the kernel's `tcp4_seq_show`, `tcp6_seq_show` and `udp4_format_sock`
/// output. Addresses are the hex of the in-memory 32-bit words, so on little-endian machines IPv4
/// 127.0.0.1 is `0100007F` and IPv6 ::1 is `00000000000000000000000001000000`.
@Suite("/proc/net text")
struct ProcNetTests {
    static func parse(
        _ line: String, _ proto: TransportProtocol = .tcp, _ family: AddressFamily = .inet, lineNumber: Int = 2
    ) throws(ProcNetError) -> SocketRecord {
        let result = Array(line.utf8).withUnsafeBytes { bytes in
            Result { () throws(ProcNetError) -> SocketRecord in
                try ProcNetReader.parseLine(
                    bytes, proto: proto, family: family, file: "/fixture/\(proto)", lineNumber: lineNumber)
            }
        }
        return try result.get()
    }

    /// `/proc/net/tcp` header (skipped by the reader).
    static let tcpHeader =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"

    // A listener on 127.0.0.1:8080 with an accept queue of 0, backlog shown as 0.
    static let listener =
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0"
    //     sl  local        remote        st tx:rx              tr:when     retrnsmt  uid  timeout inode ref pointer ...

    // Established 10.0.0.5:22 <- 10.0.0.1:51234, 0x24 bytes unsent, 3 unread, retransmit timer 0x1F4 ticks, 1 retransmit.
    static let established =
        "   1: 0500000A:0016 0100000A:C822 01 00000024:00000003 01:000001F4 00000001     0        0 4242 4 0000000000000000 20 4 30 10 -1"

    // TIME_WAIT (from get_timewait4_sock): uid, timeout and inode are 0, timer kind 3.
    static let timeWait =
        "   2: 0100007F:1F90 0100007F:C350 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000"

    @Test func tcpListener() throws {
        let r = try Self.parse(Self.listener)
        #expect(r.proto == .tcp)
        #expect(r.family == .inet)
        #expect(r.state == .listen)
        #expect(r.local == Endpoint(address: .v4(.loopback), port: 8080))
        #expect(r.remote == Endpoint(address: .v4(.any), port: 0))
        #expect(r.uid == 1000)
        #expect(r.inode == 31337)
        #expect(r.cookie == 0)
        #expect(r.interfaceIndex == 0)
        #expect(r.timer.kind == SocketTimerKind.none)
    }

    @Test func tcpEstablished() throws {
        let r = try Self.parse(Self.established)
        #expect(r.state == .established)
        #expect(r.local.description == "10.0.0.5:22")
        #expect(r.remote.description == "10.0.0.1:51234")
        #expect(r.sendQueue == 0x24)  // tx_queue
        #expect(r.receiveQueue == 3)  // rx_queue
        #expect(r.timer == SocketTimer(kind: .retransmit, expiresMilliseconds: 5000, retransmits: 1))  // 500 ticks
        #expect(r.inode == 4242)
    }

    @Test func tcpTimeWait() throws {
        let r = try Self.parse(Self.timeWait)
        #expect(r.state == .timeWait)
        #expect(r.remote.port == 50_000)
        #expect(r.uid == 0)
        #expect(r.inode == 0)
        #expect(r.timer == SocketTimer(kind: .timeWait, expiresMilliseconds: 60_000, retransmits: 0))
    }

    @Test func tcp6() throws {
        // [::1]:443 listening, from tcp6_seq_show.
        let loopback = try Self.parse(
            "   0: 00000000000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 777 1 0000000000000000 100 0 0 10 0",
            .tcp, .inet6)
        #expect(loopback.family == .inet6)
        #expect(loopback.local == Endpoint(address: .v6(.loopback), port: 443))
        #expect(loopback.remote.address == .v6(.any))
        #expect(loopback.uid == 101)
        // ::ffff:127.0.0.1:8080 <- ::ffff:192.0.2.9:40000, IPv4-mapped: words 0, 0, 0xFFFF0000, 0x0100007F.
        let mapped = try Self.parse(
            "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF0000090200C0:9C40 01 00000000:00000000 02:00000BB8 00000000  1000        0 778 1 0000000000000000 20 4 30 10 -1",
            .tcp, .inet6)
        #expect(mapped.local.address == .v6(IPv6Address(mapping: .loopback)))
        #expect(mapped.remote.description == "[::ffff:192.0.2.9]:40000")
        #expect(mapped.timer == SocketTimer(kind: .keepalive, expiresMilliseconds: 30_000, retransmits: 0))
        // 2001:db8::c0a8:1 (words 0xB80D0120, 0, 0, 0x0100A8C0), lower-case hex accepted too.
        let global = try Self.parse(
            "   2: B80D012000000000000000000100a8c0:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 779 1",
            .tcp, .inet6)
        #expect(global.local.description == "[2001:db8::c0a8:1]:80")
    }

    @Test func udp() throws {
        // udp4_format_sock: an unconnected socket bound to 0.0.0.0:68, 0x300 bytes queued for reading.
        let r = try Self.parse(
            "  123: 00000000:0044 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 23456 2 0000000000000000 5",
            .udp, .inet)
        #expect(r.proto == .udp)
        #expect(r.state == .close)
        #expect(r.local.port == 68)
        #expect(r.receiveQueue == 0x300)
        #expect(r.inode == 23456)
        // udp6: connected [::1]:53 -> [::1]:5353 (upper-case state byte 01).
        let r6 = try Self.parse(
            " 4567: 00000000000000000000000001000000:0035 00000000000000000000000001000000:14E9 01 00000000:00000000 00:00000000 00000000   998        0 23457 2 0000000000000000 0",
            .udp, .inet6)
        #expect(r6.state == .established)
        #expect(r6.local.description == "[::1]:53")
        #expect(r6.remote.port == 5353)
        #expect(r6.uid == 998)
    }

    /// Lines that are not /proc/net/tcp lines, each with the line number it was given.
    @Test(arguments: [
        "",  // empty
        "   0:",  // nothing after the slot
        "   0: 0100007F 00000000:0000 0A",  // no port
        "   0: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",  // G is not hex
        "   0: 100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",  // 7 digits
        "   0: 0100007F:1F90 00000000:0000",  // no state
        "   0: 0100007F:1F90 00000000:0000 0A",  // no queues
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000",  // no timer
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000",  // no uid
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 1",  // uid not decimal
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",  // no inode
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 -1",  // negative inode
        "   0: 0100007F:11F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",  // port > 0xFFFF
        // uid overflow
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 99999999999999999999 0 1",
        // uid 2^32: more than a uid_t holds (it used to be truncated to 0, root)
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296 0 1",
        // inode 2^32 (an inode number is 32 bits in inet_diag and here)
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4294967296",
        // tx_queue 2^32
        "   0: 0100007F:1F90 00000000:0000 0A 100000000:00000000 00:00000000 00000000 0 0 1",
        // rx_queue 2^32
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:100000000 00:00000000 00000000 0 0 1",
        // retransmits 0x100: more than the kernel's u8
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000100 0 0 1",
        // timer kind 0x100
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 100:00000000 00000000 0 0 1",
        // queues without their colon: the fields after them would shift
        "   0: 0100007F:1F90 00000000:0000 0A 00000000 00000000 00:00000000 00000000 0 0 1",
        // timer without its colon
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00 00000000 00000000 0 0 1",
        // uid followed by junk (found by the seeded fuzzing: the later fields shifted by one)
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000E401 0 1",
        // inode followed by junk
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 12+5",
        // a space after the port's colon (the next field was read as the port)
        "   0: 0100007F: 1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1",
        // a space after the queues' colon
        "   0: 0100007F:1F90 00000000:0000 0A 00000000: 00000000 00:00000000 00000000 0 0 1",
        // a state byte of three digits
        "   0: 0100007F:1F90 00000000:0000 100 00000000:00000000 00:00000000 00000000 0 0 1",
    ])
    func malformedLine(line: String) {
        #expect(throws: ProcNetError.self) { try Self.parse(line, lineNumber: 17) }
        do {
            _ = try Self.parse(line, lineNumber: 17)
        } catch {
            guard case .malformed(let file, let number, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(file == "/fixture/tcp")
            #expect(number == 17)
        }
    }

    /// The largest values each 32-bit field holds are kept exactly.
    @Test func largestValuesFit() throws {
        let r = try Self.parse(
            "   0: 0100007F:1F90 00000000:0000 01 FFFFFFFF:FFFFFFFE FF:00000000 000000FF 4294967295 0 4294967294 1")
        #expect(r.uid == UInt32.max)
        #expect(r.inode == UInt32.max - 1)
        #expect(r.sendQueue == UInt32.max)
        #expect(r.receiveQueue == UInt32.max - 1)
        #expect(r.timer.retransmits == 255)
        #expect(r.timer.kind == .unknown)
    }

    /// tm->when is at most 16 hex digits; a huge value must not overflow the conversion to milliseconds.
    @Test func hugeTimerSaturates() throws {
        let r = try Self.parse(
            "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 02:FFFFFFFFFFFFFFFF 00000000     0        0 1 1")
        #expect(r.timer.kind == .keepalive)
        #expect(r.timer.expiresMilliseconds == UInt32.max)
        let big = try Self.parse(
            "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 02:1000000000 00000000     0        0 1 1")
        #expect(big.timer.expiresMilliseconds == UInt32.max)  // 0x1000000000 ticks: clamped, not truncated
    }

    /// Random bytes changed in real-shaped lines, each line cut anywhere: a record or a thrown error, never a trap.
    @Test func randomCorruptionNeverCrashes() {
        var rng = SplitMix64(seed: 0x9F0C)
        let lines = [Self.listener, Self.established, Self.timeWait]
        let alphabet = Array("0123456789ABCDEFabcdef: -xF".utf8)
        for _ in 0..<5000 {
            var bytes = Array(lines.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = alphabet.randomElement(using: &rng)!
            }
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            for family in AddressFamily.allCases {
                _ = withGuardedBytes(bytes) { b in
                    try? ProcNetReader.parseLine(b, proto: .tcp, family: family)
                }
            }
        }
    }

    @Test func ipv4LineInIPv6File() {
        #expect(throws: ProcNetError.self) { try Self.parse(Self.listener, .tcp, .inet6) }
    }

    // MARK: reading files

    /// A temporary directory removed after `body`.
    @discardableResult
    static func withDirectory<R>(_ body: (String) throws -> R) throws -> R {
        var template = Array("/tmp/sockscan-procnet-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let path = try #require(made.map { String(cString: $0) })
        defer {
            for name in ["tcp", "tcp6", "udp", "udp6"] { unlink("\(path)/\(name)") }
            rmdir(path)
        }
        return try body(path)
    }

    static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        var text = text
        let written = text.withUTF8 { Glibc.write(fd, $0.baseAddress, $0.count) }
        try #require(written == text.utf8.count)
    }

    /// Line i: an established socket 127.0.0.1:(1000 + i) -> 10.0.0.1:(20000 + i), inode 100000 + i.
    static func tcpLine(_ i: Int) -> String {
        func hex(_ v: Int, _ width: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let state = i % 7 == 0 ? "0A" : "01"  // every seventh a listener
        return "\(String(repeating: " ", count: max(0, 4 - String(i).count)))\(i): 0100007F:\(hex(1000 + i, 4)) "
            + "0100000A:\(hex(20000 + i, 4)) \(state) 00000000:00000000 00:00000000 00000000  1000        0 "
            + "\(100_000 + i) 1 0000000000000000 20 4 30 10 -1"
    }

    /// A file of more than 64 KiB (the reader's buffer), so lines straddle reads: every line is parsed once.
    @Test func largeFileStraddlesReads() throws {
        let count = 1500
        let text = ([Self.tcpHeader] + (0..<count).map(Self.tcpLine)).joined(separator: "\n") + "\n"
        #expect(text.utf8.count > 2 * 65536)
        try Self.withDirectory { dir in
            try Self.write(text, to: "\(dir)/tcp")
            let reader = ProcNetReader(directory: dir)
            #expect(reader.path(.tcp, .inet) == "\(dir)/tcp")
            var seen: [SocketRecord] = []
            let parsed = try reader.forEach(.tcp, .inet) { seen.append($0) }
            #expect(parsed == count)
            #expect(seen.count == count)
            #expect(seen.map(\.local.port) == (0..<count).map { UInt16(1000 + $0) })
            #expect(seen.map(\.remote.port) == (0..<count).map { UInt16(20000 + $0) })
            #expect(seen.map(\.inode) == (0..<count).map { UInt32(100_000 + $0) })
            // The state filter: only the listeners.
            var listeners = 0
            try reader.forEach(.tcp, .inet, states: StateSet(.listen)) { _ in listeners += 1 }
            #expect(listeners == (0..<count).filter { $0 % 7 == 0 }.count)
        }
    }

    @Test func lastLineWithoutNewline() throws {
        let text = [Self.tcpHeader, Self.listener, Self.established, Self.timeWait].joined(separator: "\n")
        try Self.withDirectory { dir in
            try Self.write(text, to: "\(dir)/tcp")
            var states: [TCPState] = []
            try ProcNetReader(directory: dir).forEach(.tcp, .inet) { states.append($0.state) }
            #expect(states == [.listen, .established, .timeWait])
        }
    }

    @Test func headerOnly() throws {
        try Self.withDirectory { dir in
            try Self.write(Self.tcpHeader + "\n", to: "\(dir)/udp6")
            #expect(try ProcNetReader(directory: dir).forEach(.udp, .inet6) { _ in } == 0)
        }
    }

    @Test func malformedLineInFileHasItsLineNumber() throws {
        let text = [Self.tcpHeader, Self.listener, "   1: garbage", Self.timeWait].joined(separator: "\n") + "\n"
        try Self.withDirectory { dir in
            try Self.write(text, to: "\(dir)/tcp")
            #expect(throws: ProcNetError.malformed(file: "\(dir)/tcp", line: 3, reason: "bad local address")) {
                try ProcNetReader(directory: dir).forEach(.tcp, .inet) { _ in }
            }
        }
    }

    @Test func lineLongerThanBuffer() throws {
        let text = Self.tcpHeader + "\n" + String(repeating: "x", count: 70_000) + "\n"
        try Self.withDirectory { dir in
            try Self.write(text, to: "\(dir)/tcp")
            #expect(throws: ProcNetError.self) { try ProcNetReader(directory: dir).forEach(.tcp, .inet) { _ in } }
        }
    }

    /// The IPv4 files always exist: a missing one is an error.
    @Test(arguments: [TransportProtocol.tcp, .udp])
    func missingIPv4File(proto: TransportProtocol) throws {
        try Self.withDirectory { dir in
            #expect(throws: ProcNetError.unreadable(file: "\(dir)/\(proto)", errno: Errno(rawValue: ENOENT))) {
                try ProcNetReader(directory: dir).forEach(proto, .inet) { _ in }
            }
        }
    }

    /// A kernel without IPv6 (ipv6.disable=1) has no tcp6 or udp6: no IPv6 sockets, not a failed scan
    /// (as a missing sockstat6 is read).
    @Test(arguments: [TransportProtocol.tcp, .udp])
    func missingIPv6FileHasNoSockets(proto: TransportProtocol) throws {
        try Self.withDirectory { dir in
            try Self.write(Self.tcpHeader + "\n" + Self.listener + "\n", to: "\(dir)/\(proto)")
            let reader = ProcNetReader(directory: dir)
            var seen = 0
            #expect(try reader.forEach(proto, .inet6) { _ in seen += 1 } == 0)
            #expect(seen == 0)
            #expect(try reader.forEach(proto, .inet) { _ in seen += 1 } == 1)
        }
    }

    /// Only a missing IPv6 file is skipped: one that is there but cannot be read is an error.
    @Test func unreadableIPv6FileIsAnError() throws {
        try Self.withDirectory { dir in
            try #require(mkdir("\(dir)/tcp6", 0o755) == 0)
            defer { rmdir("\(dir)/tcp6") }
            #expect(throws: ProcNetError.unreadable(file: "\(dir)/tcp6", errno: Errno(rawValue: EISDIR))) {
                try ProcNetReader(directory: dir).forEach(.tcp, .inet6) { _ in }
            }
        }
    }

    /// Files the kernel never writes: each is refused with the file and the line, never read as fewer sockets.
    @Test(arguments: [
        ("", 1),  // empty: not even the header
        (Self.listener + "\n" + Self.timeWait + "\n", 1),  // no header: the first socket would be dropped
        (Self.tcpHeader + "\n" + Self.listener + "\n\n" + Self.timeWait + "\n", 3),  // a blank line
        (Self.tcpHeader + "\n" + Self.tcpHeader + "\n", 2),  // a second header
    ])
    func malformedFile(text: String, line: Int) throws {
        try Self.withDirectory { dir in
            try Self.write(text, to: "\(dir)/tcp")
            do {
                try ProcNetReader(directory: dir).forEach(.tcp, .inet) { _ in }
                Issue.record("accepted")
            } catch {
                guard case .malformed(let file, let number, _) = error as? ProcNetError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(file == "\(dir)/tcp")
                #expect(number == line)
            }
        }
    }
}
