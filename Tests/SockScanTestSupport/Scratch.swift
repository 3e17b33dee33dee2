import Foundation

/// A fresh directory under the temporary directory, removed by ``remove()``.
public struct Scratch: Sendable {
    public let path: String

    /// Makes `sockscan-PREFIX-PID-RANDOM` in the temporary directory.
    public init(_ prefix: String = "history") throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "sockscan-\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
            ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// `name` inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// The names in the directory, sorted.
    public func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    /// Mounts a tmpfs of `size` (`512k`, `2m`) over the directory, so a test can fill it; ``unmount()`` after.
    ///
    /// - Throws: ``CommandError`` when `mount` fails (not root?).
    public func mountTmpfs(size: String) throws {
        try Command.check("mount", ["-t", "tmpfs", "-o", "size=\(size)", "sockscan-test", path])
    }

    /// Makes the directory read-only, for root too (a read-only bind mount over it); ``unmount()`` after.
    ///
    /// - Throws: ``CommandError`` when `mount` fails (not root?).
    public func mountReadOnly() throws {
        try Command.check("mount", ["--bind", path, path])
        do {
            try Command.check("mount", ["-o", "remount,bind,ro", path])
        } catch {
            unmount()
            throw error
        }
    }

    /// Undoes ``mountTmpfs(size:)`` or ``mountReadOnly()``.
    public func unmount() { _ = try? Command.run("umount", [path]) }

    /// Fills the file system holding `path` with a file of that name (until a write fails).
    public static func fill(_ path: String) throws {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let chunk = Data(count: 4096)
        for _ in 0..<100_000 {
            do { try handle.write(contentsOf: chunk) } catch { break }
        }
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The type bits of `path` itself (`S_IFIFO`, `S_IFLNK`…: a symbolic link is not followed), nil when there is
/// nothing there.
public func fileType(_ path: String) -> mode_t? {
    var status = stat()
    guard lstat(path, &status) == 0 else { return nil }
    return status.st_mode & S_IFMT
}
