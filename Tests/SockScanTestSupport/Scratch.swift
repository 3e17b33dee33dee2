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

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The type bits of `path` itself (`S_IFIFO`, `S_IFLNK`…: a symbolic link is not followed), nil when there is
/// nothing there.
public func fileType(_ path: String) -> mode_t? {
    var status = stat()
    guard lstat(path, &status) == 0 else { return nil }
    return status.st_mode & S_IFMT
}
