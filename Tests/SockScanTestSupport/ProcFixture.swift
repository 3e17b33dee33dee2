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
