import Foundation
import SockMetrics
import SockScanTestSupport
import Testing

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

}
