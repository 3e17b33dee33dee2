import Foundation
import SockScanTestSupport
import Testing

@testable import SockDiag

@Suite("ProcessTable: /proc/*/fd walk on a fixture tree")
struct ProcessTableTests {
    /// | pid | comm | fds |
    /// |---|---|---|
    /// | 100 | nginx | 3 -> socket 1000 (shared with 200), 4 -> socket 2000, 5 -> /dev/null, 6 -> pipe |
    /// | 200 | nginx | 3 -> socket 1000, 7 -> socket 3000 (not asked for) |
    /// | 300 | no comm (exited mid-walk) | 9 -> socket 4000 |
    /// | 400 | no fd directory (another user's, or gone) | |
    /// | 50 | sshd | 10 -> socket 5000, 11 -> socket 5000 (dup'ed) |
    /// | self, net | not numeric: skipped | |
    static func fixture() throws -> ProcFixture {
        let f = try ProcFixture()
        try f.process(
            100, comm: "nginx", fds: [3: "socket:[1000]", 4: "socket:[2000]", 5: "/dev/null", 6: "pipe:[77]"])
        try f.process(200, comm: "nginx", fds: [3: "socket:[1000]", 7: "socket:[3000]"])
        try f.process(300, comm: nil, fds: [9: "socket:[4000]"])
        try FileManager.default.createDirectory(atPath: "\(f.root)/400", withIntermediateDirectories: true)
        try f.process(50, comm: "sshd", fds: [10: "socket:[5000]", 11: "socket:[5000]"])
        try FileManager.default.createDirectory(atPath: "\(f.root)/self/fd", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: "\(f.root)/self/fd/1", withDestinationPath: "socket:[2000]")
        try FileManager.default.createDirectory(atPath: "\(f.root)/net", withIntermediateDirectories: true)
        return f
    }

    @Test func resolvesOnlyTheInodesAskedFor() throws {
        let f = try Self.fixture()
        let table = try ProcessTable(resolving: [1000, 2000, 4000, 5000, 6000], procRoot: f.root)
        #expect(
            table.owners(of: 1000) == [
                SocketProcess(pid: 100, comm: "nginx", fd: 3), SocketProcess(pid: 200, comm: "nginx", fd: 3),
            ])
        #expect(table.isShared(1000))
        #expect(table.owners(of: 2000) == [SocketProcess(pid: 100, comm: "nginx", fd: 4)])
        #expect(!table.isShared(2000))
        #expect(table.owners(of: 3000).isEmpty, "3000 was not asked for")
        #expect(table.owners(of: 4000).isEmpty, "pid 300 has no comm: it exited")
        #expect(
            table.owners(of: 5000) == [
                SocketProcess(pid: 50, comm: "sshd", fd: 10), SocketProcess(pid: 50, comm: "sshd", fd: 11),
            ])
        #expect(table.firstOwner(of: 5000) == SocketProcess(pid: 50, comm: "sshd", fd: 10))
        #expect(table.owners(of: 6000).isEmpty)
        #expect(table.owners(of: 0).isEmpty)
        #expect(table.count == 3)
        #expect(table.statistics.processes == 4)  // 50, 100, 200, 300
        #expect(table.statistics.vanishedProcesses == 2)  // 300 (no comm), 400 (no fd directory)
        #expect(table.statistics.descriptors == 9)
        #expect(table.statistics.matches == 5)
    }

    @Test func nothingAskedReadsNothing() throws {
        let table = try ProcessTable(resolving: [], procRoot: "/nonexistent")
        #expect(table.count == 0)
        #expect(table.statistics == ProcessTable.Statistics())
    }

    @Test func unreadableRootThrows() {
        #expect(throws: ProcNetError.self) { try ProcessTable(resolving: [1], procRoot: "/nonexistent-proc") }
    }

    @Test(
        "socket:[N] links and nothing else",
        arguments: [
            ("socket:[1]", UInt32?.some(1)), ("socket:[4294967295]", 4_294_967_295), ("socket:[4294967296]", nil),
            ("socket:[]", nil), ("socket:[12", nil), ("socket:[1a]", nil), ("pipe:[5]", nil), ("/dev/null", nil),
            ("anon_inode:[eventpoll]", nil), ("socket:", nil), ("", nil),
        ])
    func socketLinks(link: String, inode: UInt32?) {
        let parsed = Array(link.utf8).map { CChar(bitPattern: $0) }.withUnsafeBufferPointer {
            ProcessTable.socketInode($0)
        }
        #expect(parsed == inode)
    }

    /// This process's own descriptors in the real /proc: a socket made here must be found with this pid,
    /// the right fd and this process's comm.
    @Test func findsOwnSocketInRealProc() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var st = stat()
        try #require(fstat(fd, &st) == 0)
        let inode = UInt32(truncatingIfNeeded: st.st_ino)
        let table = try ProcessTable(resolving: [inode])
        let comm = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(table.owners(of: inode) == [SocketProcess(pid: getpid(), comm: comm, fd: fd)])
    }
}

@Suite("CSV output")
struct CSVTests {
    static func field(_ text: String) -> String {
        var w = TextWriter()
        w.writeCSVField(text)
        return w.string
    }

    @Test(
        "RFC 4180 quoting",
        arguments: [
            ("nginx", "nginx"), ("", ""), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""), ("cr\r", "\"cr\r\""), (" lead", "\" lead\""), ("trail ", "\"trail \""),
            ("in side", "in side"), ("\"", "\"\"\"\""), ("::1", "::1"),
        ])
    func quoting(input: String, expected: String) {
        #expect(Self.field(input) == expected)
    }

    @Test func headerAndRowHaveTheSameColumns() throws {
        let f = try ProcessTableTests.fixture()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        for fields: RecordFormatter.Fields in [
            [], [.extended], [.tcpInfo, .memory], [.processes], [.extended, .tcpInfo, .memory, .processes],
        ] {
            let formatter = RecordFormatter(fields: fields)
            var w = TextWriter()
            formatter.writeCSVHeader(into: &w)
            var record = RecordFormatterTests.established
            for inode: UInt32 in [1000, 2000, 9] {
                record.inode = inode
                formatter.writeCSV(record, owners: owners, into: &w)
            }
            record.tcpInfo = TCPInfo()
            record.memory = SocketMemory()
            formatter.writeCSV(record, owners: owners, into: &w)
            let lines = w.string.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == 5)
            let widths = Set(lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).count })
            #expect(widths == [formatter.csvColumns.count], "\(fields): \(w.string)")
        }
    }

    @Test func rowValues() throws {
        let f = try ProcessTableTests.fixture()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        var record = RecordFormatterTests.established
        record.inode = 1000
        let formatter = RecordFormatter(fields: [.processes])
        var w = TextWriter()
        formatter.writeCSVHeader(into: &w)
        formatter.writeCSV(record, owners: owners, into: &w)
        record.inode = 2000
        formatter.writeCSV(record, owners: owners, into: &w)
        record.inode = 0
        formatter.writeCSV(RecordFormatterTests.listener6, owners: owners, into: &w)
        #expect(
            w.string == """
                proto,family,state,local_address,local_port,remote_address,remote_port,recv_q,send_q,uid,inode,cookie,interface,pid,comm,fd
                tcp,inet,established,10.0.0.5,22,10.0.0.1,51234,0,36,1000,1000,81985529216486895,0,100;200,nginx;nginx,3;3
                tcp,inet,established,10.0.0.5,22,10.0.0.1,51234,0,36,1000,2000,81985529216486895,0,100,nginx,4
                tcp,inet6,listen,::,22,::,0,0,4096,0,0,0,0,,,

                """)
    }
}

@Suite("RecordFormatter with owners")
struct OwnerFormattingTests {
    @Test func tableAndJSON() throws {
        let f = try ProcessTableTests.fixture()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        var formatter = RecordFormatter(fields: [.processes])
        var record = RecordFormatterTests.established
        var w = TextWriter()
        formatter.writeHeader(into: &w)
        record.inode = 1000
        formatter.writeRow(record, owners: owners, into: &w)
        record.inode = 2000
        formatter.writeRow(record, owners: owners, into: &w)
        record.inode = 7
        formatter.writeRow(record, owners: owners, into: &w)
        let lines = w.string.split(separator: "\n")
        #expect(lines[0].hasSuffix("Peer Address:Port        Process"))
        #expect(lines[1].hasSuffix(#"10.0.0.1:51234           users:(("nginx",pid=100,fd=3),("nginx",pid=200,fd=3))"#))
        #expect(lines[2].hasSuffix(#"10.0.0.1:51234           users:(("nginx",pid=100,fd=4))"#))
        #expect(lines[3].hasSuffix("10.0.0.1:51234"))

        func json(_ inode: UInt32) throws -> [String: Any] {
            var w = TextWriter()
            record.inode = inode
            formatter.writeJSON(record, owners: owners, into: &w)
            return try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        }
        let shared = try #require(try json(1000)["process"] as? [[String: Any]])
        #expect(shared.map { $0["pid"] as? Int } == [100, 200])
        #expect(shared.map { $0["comm"] as? String } == ["nginx", "nginx"])
        #expect(shared.map { $0["fd"] as? Int } == [3, 3])
        let single = try #require(try json(2000)["process"] as? [String: Any])
        #expect(single["pid"] as? Int == 100 && single["comm"] as? String == "nginx" && single["fd"] as? Int == 4)
        #expect(try json(7)["process"] == nil)
    }
}
