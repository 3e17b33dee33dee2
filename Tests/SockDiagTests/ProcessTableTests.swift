import Foundation
import SockScanTestSupport
import Testing

@testable import SockDiag

@Suite("ProcessTable: /proc/*/fd walk on a fixture tree")
struct ProcessTableTests {
    /// The fixture tree of ``ProcFixture/owners()``.
    static func fixture() throws -> ProcFixture { try ProcFixture.owners() }

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
