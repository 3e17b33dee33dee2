import Foundation
import SockScanTestSupport
import Testing

@Suite struct SpawnTests {
    /// Children get stdin, stdout and stderr only: a socket the test holds (and later closes) is not kept
    /// open by a child running beside it.
    @Test func childrenInheritNoOtherDescriptor() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)  // no SOCK_CLOEXEC
        try #require(fd >= 0)
        defer { close(fd) }
        let result = try Command.run("ls", ["/proc/self/fd"])
        #expect(result.status == 0, "\(result)")
        // 0, 1, 2 and the directory ls itself reads.
        #expect(result.lines.count == 4, "\(result.stdout)")
        #expect(!result.lines.contains(Substring(String(fd))) || fd <= 3)
    }

    @Test func exitStatusAndSignals() throws {
        #expect(try Command.run("sh", ["-c", "exit 3"]).status == 3)
        let killed = try Command.run("sh", ["-c", "kill -9 $$"])
        #expect(killed.status == 128 + 9 && killed.signaled)
        #expect(throws: CommandError.self) { try Command.run("sleep", ["5"], timeout: 0.2) }
    }
}
