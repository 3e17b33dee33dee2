import Foundation
import SockMetrics
import SockScanTestSupport
import Testing

/// The type bits of `path` itself (a symbolic link is not followed).
private func fileType(_ path: String) -> mode_t? {
    var status = stat()
    guard lstat(path, &status) == 0 else { return nil }
    return status.st_mode & S_IFMT
}

/// Runs `script` with `sh` in a private mount namespace (`unshare -m`): what it mounts there, over `/dev`
/// too, never reaches the host. `$1` is the sockscan binary, then `arguments`.
private func inPrivateMountNamespace(_ script: String, _ arguments: [String]) throws -> CommandResult {
    try Command.run(
        "unshare", ["-m", "--propagation", "private", "sh", "-c", script, "sh", SockscanBinary.path] + arguments,
        timeout: 60)
}

@Suite("Textfile safety")
struct TextfileSafetyTests {
    /// A FIFO, a device, a symbolic link or a directory at the target is refused, named, and left as it was
    /// (a rename would replace the node; writing through the link would replace the file it points to).
    @Test func anExistingTargetThatIsNotARegularFileIsRefused() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        let fifo = scratch.file("fifo.prom")
        let device = scratch.file("null.prom")
        let link = scratch.file("link.prom")
        let directory = scratch.file("dir.prom")
        let real = scratch.file("real.txt")
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(mknod(device, S_IFCHR | 0o666, nullDevice) == 0)
        try "keep\n".write(toFile: real, atomically: false, encoding: .utf8)
        #expect(symlink(real, link) == 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let cases: [(String, mode_t, String)] = [
            (fifo, S_IFIFO, "is a FIFO (named pipe), not a regular file"),
            (device, S_IFCHR, "is a character device, not a regular file"),
            (link, S_IFLNK, "is a symbolic link"),
            (directory, S_IFDIR, "Is a directory"),
        ]
        for (path, type, words) in cases {
            let error = #expect(throws: TextfileError.self, "\(path)") {
                try Textfile.write(Array("x 1\n".utf8), to: path)
            }
            #expect(error?.description.contains(path) == true, "\(String(describing: error))")
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
            #expect(fileType(path) == type, "\(path) was replaced")
        }
        #expect(try String(contentsOfFile: real, encoding: .utf8) == "keep\n")
        // Nothing else was left behind.
        #expect(try scratch.names() == ["dir.prom", "fifo.prom", "link.prom", "null.prom", "real.txt"])
    }

    /// `sockscan metrics --textfile /dev/null` in a private mount namespace whose `/dev` is a scratch
    /// directory holding its own `null` device (the host's is never at risk): exit 1 naming it, the device
    /// left a device.
    @Test func devNullIsNotReplaced() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        #expect(mknod(scratch.file("null"), S_IFCHR | 0o666, nullDevice) == 0)
        let result = try inPrivateMountNamespace(
            #"mount --bind "$2" /dev && exec "$1" metrics --textfile /dev/null"#, [scratch.path])
        #expect(result.status == 1, "\(result)")
        // After the warning that the name is not *.prom.
        #expect(
            result.stderr.hasSuffix(
                "\nsockscan: cannot write /dev/null: it is a character device, not a regular file; only a "
                    + "regular file is replaced\n"), "\(result.stderr)")
        #expect(fileType(scratch.file("null")) == S_IFCHR)
        #expect(try scratch.names() == ["null"])
    }

    /// Temporary names are the pid and a random part: names another writer (or an attacker) took, even as
    /// symbolic links, neither block the write nor are written through.
    @Test func takenTemporaryNamesNeitherBlockNorAreFollowed() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        let victim = scratch.file("victim.txt")
        try "victim\n".write(toFile: victim, atomically: false, encoding: .utf8)
        // Every name the pid-and-counter scheme would try.
        for n in 0..<100 { #expect(symlink(victim, scratch.file(".t3.prom.\(getpid()).\(n).tmp")) == 0) }
        try Textfile.write(Array("t3 1\n".utf8), to: scratch.file("t3.prom"))
        #expect(try String(contentsOfFile: scratch.file("t3.prom"), encoding: .utf8) == "t3 1\n")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim\n")
        #expect(try scratch.names().count == 102)
    }

    /// A target name near NAME_MAX still gets a temporary name the file system takes.
    @Test func longTargetNamesGetAShorterTemporaryName() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        let name = String(repeating: "n", count: 250) + ".prom"
        try Textfile.write(Array("long 1\n".utf8), to: scratch.file(name))
        #expect(try scratch.names() == [name])
    }

    /// When the temporary file fails (it cannot be created: a read-only file system; or written: a full
    /// one), the message names it and what it was for, and no temporary file is left.
    @Test func failuresNameTheTemporaryFile() throws {
        let scratch = try Scratch("textfile")
        defer { scratch.remove() }
        let target = scratch.file("t3.prom")
        let full = try inPrivateMountNamespace(
            #"""
            mount -t tmpfs -o size=16k tmpfs "$2" || exit 99
            dd if=/dev/zero of="$2/fill" bs=4k count=64 2>/dev/null
            "$1" metrics --textfile "$2/t3.prom"; echo "status $?"; ls -A "$2"
            """#, [scratch.path])
        #expect(full.stdout == "status 1\nfill\n", "\(full)")
        let prefix = "sockscan: cannot write \(target): cannot write the temporary file \(scratch.path)/.t3.prom."
        #expect(full.stderr.hasPrefix(prefix), "\(full.stderr)")
        #expect(full.stderr.hasSuffix(".tmp: No space left on device\n"), "\(full.stderr)")

        let readOnly = try inPrivateMountNamespace(
            #"""
            mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" || exit 99
            "$1" metrics --textfile "$2/t3.prom"; echo "status $?"
            """#, [scratch.path])
        #expect(readOnly.stdout == "status 1\n", "\(readOnly)")
        let create = "sockscan: cannot write \(target): cannot create the temporary file \(scratch.path)/.t3.prom."
        #expect(readOnly.stderr.hasPrefix(create), "\(readOnly.stderr)")
        #expect(readOnly.stderr.hasSuffix(".tmp: Read-only file system\n"), "\(readOnly.stderr)")
        #expect(try scratch.names() == [])
    }
}
