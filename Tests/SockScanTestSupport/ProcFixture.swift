import Foundation

/// A directory shaped like `/proc`: `PID/comm` and `PID/fd/N` symbolic links whose targets read like the
/// kernel's (`socket:[INODE]`, `/dev/null`, `pipe:[N]`). The link targets need not exist: only
/// `readlink` is used.
public final class ProcFixture {
    /// The directory to pass as `procRoot`.
    public let root: String

    public init() throws {
        var template = Array("/tmp/sockscan-proc-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        root = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Adds a process: `comm` (nil: no comm file, as for a process that just exited) and its descriptors.
    public func process(_ pid: Int, comm: String?, fds: [Int: String]) throws {
        let directory = "\(root)/\(pid)"
        try FileManager.default.createDirectory(atPath: "\(directory)/fd", withIntermediateDirectories: true)
        if let comm { try Data((comm + "\n").utf8).write(to: URL(fileURLWithPath: "\(directory)/comm")) }
        for (fd, target) in fds {
            try FileManager.default.createSymbolicLink(atPath: "\(directory)/fd/\(fd)", withDestinationPath: target)
        }
    }
}

extension ProcFixture {
    /// A tree of a few processes and their descriptors, for the process table and the formats that print owners:
    ///
    /// | pid | comm | fds |
    /// |---|---|---|
    /// | 100 | nginx | 3 -> socket 1000 (shared with 200), 4 -> socket 2000, 5 -> /dev/null, 6 -> pipe |
    /// | 200 | nginx | 3 -> socket 1000, 7 -> socket 3000 (not asked for) |
    /// | 300 | no comm (exited mid-walk) | 9 -> socket 4000 |
    /// | 400 | no fd directory (another user's, or gone) | |
    /// | 50 | sshd | 10 -> socket 5000, 11 -> socket 5000 (dup'ed) |
    /// | self, net | not numeric: skipped | |
    public static func owners() throws -> ProcFixture {
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
}
