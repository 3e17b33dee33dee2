import Foundation
import SystemPackage
import Testing

@testable import SockDiag

/// `Sockstat.parse` on text shaped like the kernel's `sockstat_seq_show` and `sockstat6_seq_show`.
@Suite("/proc/net/sockstat")
struct SockstatTests {
    static let sockstat = """
        sockets: used 1287
        TCP: inuse 41 orphan 2 tw 28232 alloc 57 mem 9
        UDP: inuse 7 mem 4
        UDPLITE: inuse 0
        RAW: inuse 1
        FRAG: inuse 3 memory 12288

        """

    static let sockstat6 = """
        TCP6: inuse 12
        UDP6: inuse 5
        UDPLITE6: inuse 0
        RAW6: inuse 2
        FRAG6: inuse 1 memory 4096

        """

    @Test func parsesBothFiles() throws {
        var s = Sockstat()
        try s.parse(Self.sockstat)
        try s.parse(Self.sockstat6)
        #expect(s.socketsUsed == 1287)
        #expect(s.tcpInUse == 41)
        #expect(s.tcpOrphan == 2)
        #expect(s.tcpTimeWait == 28232)
        #expect(s.tcpAllocated == 57)
        #expect(s.tcpMemoryPages == 9)
        #expect(s.udpInUse == 7)
        #expect(s.udpMemoryPages == 4)
        #expect(s.udpLiteInUse == 0)
        #expect(s.rawInUse == 1)
        #expect(s.fragInUse == 3)
        #expect(s.fragMemory == 12288)
        #expect(s.tcp6InUse == 12)
        #expect(s.udp6InUse == 5)
        #expect(s.udpLite6InUse == 0)
        #expect(s.raw6InUse == 2)
        #expect(s.frag6InUse == 1)
        #expect(s.frag6Memory == 4096)
    }

    /// Parsing sockstat6 keeps what sockstat gave (and the other way round).
    @Test func parseKeepsOtherFields() throws {
        var s = Sockstat()
        try s.parse(Self.sockstat6)
        #expect(s.tcpTimeWait == 0)
        try s.parse(Self.sockstat)
        #expect(s.tcp6InUse == 12)
        #expect(s.tcpTimeWait == 28232)
    }

    @Test func unknownProtocolsAndKeysAreIgnored() throws {
        var s = Sockstat()
        try s.parse("MPTCP: inuse 3\nTCP: inuse 4 newkey 9\n")
        #expect(s.tcpInUse == 4)
    }

    @Test(arguments: [
        ("", 1),  // empty
        ("\n", 1),  // a blank line
        ("garbage\n", 1),  // not PROTO: key value …
        ("sockets: used 1\nTCP inuse 4 tw 0\n", 2),  // no colon
        ("sockets: used 1\n\u{1}\u{7f}\u{0}\n", 2),  // binary
        ("sockets: used 1\n\nTCP: inuse 4\n", 2),  // a blank line inside
        (": inuse 4\n", 1),  // no protocol
        ("TCP:\n", 1),  // no pairs at all
        ("sockets: used 1\nTCP: inuse x orphan 0\n", 2),  // not a number
        ("TCP: inuse -1\n", 1),  // negative
        ("TCP: inuse 1 orphan\n", 1),  // a key without a value
        ("sockets: used 1\nUDP: inuse 99999999999999999999\n", 2),  // too big for UInt64
    ])
    func malformed(text: String, line: Int) {
        var s = Sockstat()
        #expect(throws: ProcNetError.self) { try s.parse(text, file: "fixture") }
        do {
            try s.parse(text, file: "fixture")
        } catch {
            guard case .malformed(let file, let number, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(file == "fixture")
            #expect(number == line)
        }
    }

    // MARK: reading files

    /// A temporary directory holding `files` (name: text), removed after `body`.
    static func withFiles<R>(_ files: [String: String], _ body: (String) throws -> R) throws -> R {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-sockstat-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: url) }
        for (name, text) in files { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        return try body(url.path)
    }

    @Test func readsBothFiles() throws {
        let s = try Self.withFiles(["sockstat": Self.sockstat, "sockstat6": Self.sockstat6]) {
            try Sockstat.read(directory: $0)
        }
        #expect(s.tcpInUse == 41)
        #expect(s.tcp6InUse == 12)
    }

    /// A kernel without IPv6 has no sockstat6: zeros for IPv6.
    @Test func missingSockstat6() throws {
        let s = try Self.withFiles(["sockstat": Self.sockstat]) { try Sockstat.read(directory: $0) }
        #expect(s.tcpTimeWait == 28232)
        #expect(s.tcp6InUse == 0)
    }

    /// What the kernel never writes is refused, naming the file and line: never all zeros and success.
    /// A required line that is missing is reported at the end of the file (the line after the last).
    @Test(arguments: [
        ("", SockstatTests.sockstat6, "sockstat", 1),  // empty sockstat
        ("hello\n", SockstatTests.sockstat6, "sockstat", 1),  // garbage
        ("sockets: used 3\n", SockstatTests.sockstat6, "sockstat", 2),  // no TCP, no UDP
        (
            "sockets: used 3\nTCP: inuse 1 orphan 0 alloc 1 mem 0\nUDP: inuse 0\n", SockstatTests.sockstat6, "sockstat",
            4
        ),  // no tw
        (SockstatTests.sockstat, "", "sockstat6", 1),  // empty sockstat6
        (SockstatTests.sockstat, "UDP6: inuse 5\nRAW6: inuse 2\n", "sockstat6", 3),  // no TCP6
    ])
    func malformedFiles(sockstat: String, sockstat6: String, file: String, line: Int) throws {
        try Self.withFiles(["sockstat": sockstat, "sockstat6": sockstat6]) { dir in
            do {
                _ = try Sockstat.read(directory: dir)
                Issue.record("accepted")
            } catch {
                guard case .malformed(let name, let number, _) = error as? ProcNetError else {
                    Issue.record("unexpected \(error)")
                    return
                }
                #expect(name == "\(dir)/\(file)")
                #expect(number == line)
            }
        }
    }

    /// Only a missing sockstat6 is skipped; one that cannot be read is an error.
    @Test func unreadableSockstat6() throws {
        try Self.withFiles(["sockstat": Self.sockstat]) { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/sockstat6", withIntermediateDirectories: false)
            #expect(throws: ProcNetError.unreadable(file: "\(dir)/sockstat6", errno: Errno(rawValue: EISDIR))) {
                try Sockstat.read(directory: dir)
            }
        }
    }

    /// A file beyond the reader's bound (4 MiB) is an error, not its first 4 MiB: here the TCP line sits
    /// after 4 MiB of lines of an unknown protocol, each 1 KiB, so a cut falls between two lines.
    @Test func oversizedFileIsAnError() throws {
        let line = "X: k 1" + String(repeating: " ", count: 1017) + "\n"
        #expect(line.utf8.count == 1024)
        let tail = "TCP: inuse 4 orphan 0 tw 7 alloc 4 mem 1\nUDP: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n"
        let over = "sockets: used 1\n" + String(repeating: line, count: 4096) + tail
        try Self.withFiles(["sockstat": over]) { dir in
            #expect(throws: ProcNetError.unreadable(file: "\(dir)/sockstat", errno: Errno(rawValue: EFBIG))) {
                try Sockstat.read(directory: dir)
            }
        }
        // Whole reads: a file just under the bound is read to its end.
        let under = "sockets: used 1\n" + String(repeating: line, count: 4090) + tail
        #expect(under.utf8.count < 4 << 20)
        let s = try Self.withFiles(["sockstat": under]) { try Sockstat.read(directory: $0) }
        #expect(s.tcpTimeWait == 7)
    }
}
