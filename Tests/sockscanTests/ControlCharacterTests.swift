import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// A process name may hold a newline or another control character (it is the name of the file executed):
/// the table must keep one socket, or one group, per line.
@Suite("Control characters in process names")
struct ControlCharacterTests {
    /// The name: a newline, a control character; 11 bytes (a comm holds 15).
    static let name = "sock\nscan\u{1}x"
    static let escaped = "sock\\nscan\\x01x"

    @Test("list -p and count --by process escape a process name's control characters in the table")
    func escapedInTable() throws {
        // `sockscan serve` started under that name holds a listening socket in this namespace (the companion
        // itself: `sockscan` would exec it under its own name).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-cc-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent(Self.name).path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: SockscanBinary.companionPath)
        let log = directory.appendingPathComponent("stderr").path
        let fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        let pid = try Command.spawn(link, ["serve", "--listen", "127.0.0.1:0"], stderr: fd)
        close(fd)
        defer { Command.stop(pid) }
        var port: String?
        for _ in 0..<2000 {  // 20 s: a start on a loaded machine
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: /serving http:\/\/127\.0\.0\.1:([0-9]+)\//) {
                port = String(match.1)
                break
            }
            usleep(10_000)
        }
        let listening = try #require(
            port, "serve did not start: \(String(describing: try? String(contentsOfFile: log, encoding: .utf8)))")
        let comm = try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        try #require(comm == Self.name + "\n", "comm is \(comm.debugDescription)")

        let list = try SockscanBinary.run(["list", "-tlpH", "sport", "=", ":\(listening)"])
        #expect(list.status == 0, "\(list)")
        #expect(list.lines.count == 1, "\(list.stdout.debugDescription)")
        #expect(list.stdout.contains("users:((\"\(Self.escaped)\",pid=\(pid),"), "\(list.stdout.debugDescription)")

        let count = try SockscanBinary.run(["count", "-tl", "--by", "process", "sport", "=", ":\(listening)"])
        #expect(count.status == 0, "\(count)")
        #expect(count.lines.count == 3, "header, the process, total: \(count.stdout.debugDescription)")
        #expect(count.lines.dropFirst().first?.hasPrefix("\(Self.escaped)[\(pid)] ") == true, "\(count.stdout)")

        // JSON escapes it its own way and keeps the name.
        let json = try SockscanBinary.run(["list", "-tlp", "--format", "json", "sport", "=", ":\(listening)"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["process"] as? [String: Any])?["comm"] as? String == Self.name, "\(json.stdout)")
    }
}
