import Foundation
import GRDB
import SockDiag
import SockHistory
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// Histories and `--db` paths no recorder made: each one clear line and exit 1, never a trap or a hang.
@Suite(.serialized) struct HistoryInputTests {
    /// Sets one value of a known history (HistoryFixture's samples, ids 1 to 3) with `sql`.
    static func edited(_ sql: String) throws -> (Scratch, String) {
        let (scratch, path) = try HistoryFixture.makeHistory()
        try Peek.queue(path, readonly: false).write { try $0.execute(sql: sql) }
        return (scratch, path)
    }

    /// A value of the wrong type or out of range, in each table the report reads: exit 1 naming the table,
    /// the row and the column (GRDB's subscripts trap on such a value: exit 132).
    @Test(arguments: [
        (
            "UPDATE sample SET tcpsck = 'abc' WHERE id = 2",
            "table sample, row id 2: column tcpsck holds the text \"abc\", not an integer"
        ),
        (
            "UPDATE sample SET established = 1.5 WHERE id = 3",
            "table sample, row id 3: column established holds the real number 1.5, not an integer"
        ),
        (
            "UPDATE sample SET time = 'noon' WHERE id = 1",
            "table sample, row id 1: column time holds the text \"noon\", not a time (unix seconds)"
        ),
        (
            "UPDATE sample SET time = 1e300 WHERE id = 1",
            "table sample, row id 1: column time holds the real number 1e+300, not a time from 1970 to 9999"
        ),
        (
            "UPDATE sample SET missed = x'00ff' WHERE id = 2",
            "table sample, row id 2: column missed holds a blob of 2 bytes, not an integer"
        ),
        (
            "UPDATE destination SET used = 'many' WHERE rowid = 1",
            "table destination, row id 1: column used holds the text \"many\", not an integer"
        ),
        (
            "UPDATE sample SET port_utilization = 'high' WHERE id = 1",
            "table sample, row id 1: column port_utilization holds the text \"high\", not a number"
        ),
    ])
    func aValueOfTheWrongTypeIsNamed(sql: String, message: String) throws {
        let (scratch, path) = try Self.edited(sql)
        defer { scratch.remove() }
        for format in ["table", "json", "csv"] {
            let result = try Sockscan.run(["report", "--db", path, "--format", format])
            #expect(result.status == 1, "\(result)")
            #expect(result.stderr == "sockscan: history database \(path): \(message)\n", "\(result.stderr)")
            #expect(result.stdout.isEmpty || format == "csv", "\(result.stdout)")
        }
    }

    /// The run table is read for a chart.
    @Test func aBadRunRowIsNamed() throws {
        let (scratch, path) = try Self.edited("UPDATE run SET interval_ms = 'often'")
        defer { scratch.remove() }
        let chart = scratch.file("c.svg")
        let result = try Sockscan.run(["report", "--db", path, "--chart", chart])
        #expect(result.status == 1, "\(result)")
        #expect(
            result.stderr
                == "sockscan: history database \(path): table run, row id 1: column interval_ms holds the text "
                + "\"often\", not an integer\n", "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: chart))
    }

    /// A control character in a bad value is shown escaped, never sent to the terminal.
    @Test func aBadValueIsEscaped() throws {
        let (scratch, path) = try Self.edited("UPDATE sample SET tcpsck = char(27) || '[31mred' WHERE id = 2")
        defer { scratch.remove() }
        let result = try Sockscan.run(["report", "--db", path])
        #expect(result.status == 1, "\(result)")
        #expect(!result.stderr.contains("\u{1B}"), "\(result.stderr)")
        #expect(result.stderr.contains(#"holds the text "\u{1B}[31mred", not an integer"#), "\(result.stderr)")
    }

    /// A FIFO, a device, a directory, or a link to one, as `--db`: refused before it is opened for SQLite
    /// (a FIFO blocked `report` forever; `record` said "Illegal seek"; a device got a `-journal` beside it).
    @Test func aDatabasePathThatIsNotARegularFileIsRefused() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let fifo = scratch.file("pipe.db")
        let device = scratch.file("null.db")
        let directory = scratch.file("dir.db")
        let link = scratch.file("link.db")
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(mknod(device, S_IFCHR | 0o666, nullDevice) == 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        #expect(symlink(fifo, link) == 0)
        let cases = [
            (fifo, "is a FIFO (named pipe)"), (device, "is a character device"), (directory, "is a directory"),
            (link, "is a FIFO (named pipe)"),
        ]
        for (path, kind) in cases {
            let message =
                "sockscan: history database \(path) \(kind), not a regular file; give the path of a "
                + "history file (created if missing)\n"
            let commands = [
                ["report", "--db", path], ["record", "--db", path], ["watch", "--db", path, "--count", "1"],
            ]
            for arguments in commands {
                // Bounded: a FIFO opened for reading blocks until a writer comes, which none does.
                let result = try Sockscan.run(arguments, timeout: 20)
                #expect(result.status == 1, "\(arguments): \(result)")
                #expect(result.stderr.hasSuffix(message), "\(arguments): \(result.stderr)")
            }
        }
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() == [
                "dir.db", "link.db", "null.db", "pipe.db",
            ])
        var status = stat()
        #expect(lstat(device, &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        #expect(lstat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
    }
}
