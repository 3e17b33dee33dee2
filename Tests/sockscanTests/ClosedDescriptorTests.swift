import Foundation
import SockScanTestSupport
import Testing

/// Standard descriptors closed at start (`sockscan count -ta >&-`): no socket or file the program opens may
/// take fd 0, 1 or 2, so a closed stdout stays closed and the write fails loudly instead of going into a
/// netlink socket.
@Suite("Closed standard descriptors", .serialized, .cliMix(extraPairs: 0))
struct ClosedDescriptorTests {
    static let ebadf = "sockscan: cannot write to standard output: Bad file descriptor"

    /// Every command that writes its result to stdout, each ending after one result.
    static let commands: [[String]] = [
        ["count", "-ta"],
        ["count", "-ta", "--format", "json"],
        ["list", "-ta"],
        ["list", "-ta", "--format", "json"],
        ["summary"],
        ["metrics"],
        ["ports"],
        ["ports", "--format", "json"],
        ["watch", "--count", "1", "--interval", "10ms"],
    ]

    /// Runs `sockscan command…` on the suite's socket mix without the descriptors in `closed`: with
    /// `--netns` (the namespace file is opened first), or started inside the namespace (a child starts in
    /// its creating thread's namespace), where the netlink socket is the first thing opened.
    static func run(_ command: [String], netns: Bool, closed: Set<Int32>, timeout: Double = 30) throws
        -> CommandResult
    {
        let namespace = try CLIFixture.require().namespace
        if netns {
            return try SockscanBinary.run(
                [command[0], "--netns", namespace.name] + command.dropFirst(), timeout: timeout, closed: closed)
        }
        return try namespace.run { try SockscanBinary.run(command, timeout: timeout, closed: closed) }
    }

    /// A fresh directory for a history database.
    static func makeDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-fd-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        return url.path
    }

    @Test(arguments: commands, [false, true])
    func closedStdoutIsAnError(command: [String], netns: Bool) throws {
        let result = try Self.run(command, netns: netns, closed: [1])
        #expect(result.status == 1, "\(command): \(result)")
        #expect(!result.signaled)
        #expect(result.stderr.split(separator: "\n").last.map(String.init) == Self.ebadf, "\(command): \(result)")
    }

    /// With stdout and stderr both closed nothing can be said, but the exit status still tells.
    @Test(arguments: commands, [false, true])
    func closedStdoutAndStderrExitOne(command: [String], netns: Bool) throws {
        let result = try Self.run(command, netns: netns, closed: [1, 2])
        #expect(result.status == 1, "\(command): \(result)")
    }

    /// A closed stdin (or stderr) changes nothing for commands that do not read (or need) it: the same
    /// counts as with every descriptor open.
    @Test(arguments: [Set<Int32>([0]), [2], [0, 2]])
    func otherClosedDescriptorsAreHarmless(closed: Set<Int32>) throws {
        let command = ["count", "-ta", "--format", "json"]
        let reference = try Self.run(command, netns: false, closed: [])
        try #require(reference.status == 0, "\(reference)")
        let result = try Self.run(command, netns: false, closed: closed)
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout == reference.stdout)
        #expect(result.stdout.contains("\"total\":"))
    }

    /// `record` logs to stderr only (every disk-full, missed tick and hourly summary): with its log closed
    /// it would lose samples without a word, so it refuses to start (exit 1; nothing can say why) and
    /// creates no database.
    @Test func recordRefusesAClosedLog() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let db = directory + "/history.db"
        let result = try Self.run(["record", "--db", db, "--interval", "100ms"], netns: true, closed: [2], timeout: 10)
        #expect(result.status == 1, "\(result)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    /// A running recorder started without stdin and stdout: none of fds 0–2 is a socket or its database
    /// (its netlink socket, database and lock live above them), and it records and stops as usual.
    @Test func recorderHoldsNoSocketOnStandardDescriptors() throws {
        let namespace = try CLIFixture.require().namespace
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let db = directory + "/history.db"
        // Started inside the namespace: no --netns file is opened before the netlink socket.
        let recorder = try namespace.run {
            try BackgroundProcess(
                SockscanBinary.path, ["record", "--db", db, "--interval", "50ms", "--full-every", "50ms"],
                closed: [0, 1])
        }
        defer { recorder.stop(SIGKILL) }
        _ = try recorder.waitForLine(containing: "recording every")
        // fds 0 and 1 hold /dev/null (not the database, whose pages a stray write to stdout would corrupt,
        // nor a socket); fd 2 is the log file.
        for fd in 0...2 {
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(recorder.pid)/fd/\(fd)")
            #expect(
                target == (fd == 2 ? nil : "/dev/null") || (fd == 2 && target?.hasSuffix(".err") == true),
                "fd \(fd) is \(target ?? "closed")")
        }
        #expect(recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
    }
}
