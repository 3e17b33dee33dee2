import Foundation
import GRDB
import SockDiag
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// Crashes, bad files and contention: each a clear error, exit 1, nothing lost.
@Suite(.serialized) struct StoreSafetyTests {
    /// A recorder's arguments in `namespace` (a private one keeps every tick cheap).
    static func record(_ db: String, _ namespace: TestNamespace, interval: String = "100ms") -> [String] {
        ["record", "--db", db, "--interval", interval, "--full-every", interval, "--netns", namespace.name]
    }

    /// A history with `count` samples, made by `watch --db`.
    static func makeHistory(_ db: String, _ namespace: TestNamespace, count: Int = 3) throws {
        let result = try Sockscan.run([
            "watch", "--db", db, "--count", "\(count)", "--interval", "20ms", "--netns", namespace.name,
        ])
        try #require(result.status == 0, "\(result)")
    }

    /// Expects a runtime failure: exit 1 and one line on stderr containing `mention`.
    static func expectFailure(
        _ result: CommandResult, _ mention: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 1, "\(result)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(mention), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(
            result.stderr.split(separator: "\n").filter { $0.hasPrefix("sockscan:") }.count == 1,
            "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test func killMinus9LosesNothingCommitted() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("killed.db")
        let recorder = try Background(Self.record(db, namespace, interval: "50ms"))
        try waitUntil("10 samples", timeout: 10) { Peek.sampleCount(db) >= 10 }
        let before = try Peek.sampleIDs(db)
        #expect(try recorder.stop(SIGKILL) == 128 + SIGKILL)

        #expect(try Peek.integrity(db) == "ok")
        let after = try Peek.sampleIDs(db)
        #expect(Set(before).isSubset(of: Set(after)), "rows committed before the kill are all there")
        #expect(after.count >= before.count)

        // The lock died with the process: a new recorder starts, and marks the dead run as crashed.
        let again = try Sockscan.run(["watch", "--db", db, "--count", "1", "--netns", namespace.name])
        #expect(again.status == 0, "\(again)")
        let ended = try Peek.queue(db).read { try String?.fetchAll($0, sql: "SELECT ended FROM run ORDER BY id") }
        #expect(ended == ["crashed", "stopped"])
        #expect(Peek.sampleCount(db) == after.count + 1)
    }

    @Test func twoRecordersOnOneDatabaseAreRefused() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("shared.db")
        let first = try Background(Self.record(db, namespace))
        try waitUntil("the first recorder's samples", timeout: 8) { Peek.sampleCount(db) >= 2 }

        let second = try Sockscan.run(Self.record(db, namespace))
        Self.expectFailure(second, "another recorder (pid \(first.pid)) is already writing \(db)")
        let watcher = try Sockscan.run(["watch", "--db", db, "--count", "1", "--netns", namespace.name])
        Self.expectFailure(watcher, "another recorder (pid \(first.pid))")

        // The first one goes on.
        let count = Peek.sampleCount(db)
        try waitUntil("more samples from the first recorder", timeout: 5) { Peek.sampleCount(db) > count + 2 }
        #expect(try first.stop(SIGINT) == 0, "\(first.stderr)")
        #expect(first.stderr.contains("stopped by SIGINT"))
        #expect(try Peek.integrity(db) == "ok")
    }

    @Test func aFileThatIsNotADatabaseIsLeftAlone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.file("notes.txt")
        let text = String(repeating: "not a database, just notes\n", count: 100)
        try text.write(toFile: path, atomically: false, encoding: .utf8)

        Self.expectFailure(try Sockscan.run(Self.record(path, namespace)), "is not an SQLite database")
        Self.expectFailure(try Sockscan.run(["report", "--db", path]), "is not an SQLite database")
        #expect(Peek.bytes(path) == Data(text.utf8))
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))

        // An SQLite database of another program.
        let other = scratch.file("other.db")
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE users (name TEXT)") }
        let bytes = Peek.bytes(other)
        Self.expectFailure(try Sockscan.run(Self.record(other, namespace)), "of another program")
        #expect(Peek.bytes(other) == bytes)
    }

    @Test func aDatabaseOfAFutureSchemaIsLeftAlone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("future.db")
        try Self.makeHistory(db, namespace)
        // What a newer sockscan would leave: a migration this one does not know, and its version.
        let known = HistoryStore.schemaVersion
        let future = known + 1
        try DatabaseQueue(path: db).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v\(future)')")
            try db.execute(sql: "PRAGMA user_version = \(future)")
        }
        let bytes = try #require(Peek.bytes(db))

        let record = try Sockscan.run(Self.record(db, namespace))
        Self.expectFailure(record, "schema version \(future), newer than this sockscan knows (\(known))")
        Self.expectFailure(try Sockscan.run(["report", "--db", db]), "schema version \(future)")
        Self.expectFailure(
            try Sockscan.run(["watch", "--db", db, "--count", "1", "--netns", namespace.name]),
            "schema version \(future)")
        #expect(Peek.bytes(db) == bytes, "the file is untouched")
    }

    @Test func aReadOnlyDirectoryGivesAClearError() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("kept.db")
        try Self.makeHistory(db, namespace)
        let bytes = try #require(Peek.bytes(db))
        // Read-only for root too: a read-only bind mount over the directory.
        try scratch.mountReadOnly()
        defer { scratch.unmount() }

        Self.expectFailure(try Sockscan.run(Self.record(db, namespace)), "Read-only file system")
        Self.expectFailure(
            try Sockscan.run(Self.record(scratch.file("new.db"), namespace)), "cannot create history database")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("new.db")))
        // Still readable there.
        let report = try Sockscan.run(["report", "--db", db, "--format", "json"])
        #expect(report.status == 0, "\(report)")
        #expect(try jsonRows(report.stdout).count == 3)
        #expect(Peek.bytes(db) == bytes)
    }

    /// `sockscan arguments…` as user nobody, group nogroup (65534) and no other group.
    static func runAsNobody(_ arguments: [String]) throws -> CommandResult {
        try Command.run(
            "setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", SockscanBinary.pathForOtherUsers]
                + arguments)
    }

    /// Expects a reader's failure: exit 1, one line naming the file, and no advice to choose a writable one.
    static func expectReaderFailure(
        _ result: CommandResult, _ mention: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        expectFailure(result, mention, sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("writable"), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    /// The README's set-up for readers: the database `0640 root:nogroup` in a `0750 root:nogroup` directory,
    /// read by a user of that group who may not write the directory, with the recorder stopped and running.
    @Test func aReaderWithReadAccessOnlyCanReport() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        let directory = scratch.file("history")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let db = directory + "/h.db"
        try Self.makeHistory(db, namespace)
        chmod(scratch.path, 0o755)
        for (path, mode) in [(directory, 0o750), (db, 0o640)] as [(String, mode_t)] {
            try #require(chown(path, 0, 65534) == 0 && chmod(path, mode) == 0)
        }
        let exists = { (suffix: String) in FileManager.default.fileExists(atPath: db + suffix) }

        // Stopped cleanly: one file, in rollback-journal mode.
        #expect(!exists("-wal") && !exists("-shm"))
        let stopped = try Self.runAsNobody(["report", "--db", db, "--format", "json"])
        #expect(stopped.status == 0, "\(stopped)")
        #expect(try jsonRows(stopped.stdout).count == 3)
        #expect(try Self.runAsNobody(["report", "--db", db]).status == 0)

        // While recording: SQLite gives -wal and -shm the database file's mode and owner, and the reader reads
        // through a read-only -shm.
        let recorder = try Background(Self.record(db, namespace))
        try waitUntil("samples", timeout: 8) { Peek.sampleCount(db) >= 6 }
        for suffix in ["-wal", "-shm"] {
            var st = stat()
            #expect(stat(db + suffix, &st) == 0 && st.st_mode & 0o777 == 0o640 && st.st_gid == 65534, "\(suffix)")
        }
        let running = try Self.runAsNobody(["report", "--db", db, "--format", "json"])
        #expect(running.status == 0, "\(running)")
        #expect(try jsonRows(running.stdout).count >= 6)
        #expect(try recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
        #expect(!exists("-wal") && !exists("-shm"), "a clean stop leaves one file")
        let after = try Self.runAsNobody(["report", "--db", db, "--format", "json"])
        #expect(after.status == 0, "\(after)")
        #expect(try jsonRows(after.stdout).count == Peek.sampleCount(db))

        // Left in WAL mode without a -wal file (as an earlier sockscan left a stopped history): read as immutable.
        try Peek.queue(db, readonly: false).writeWithoutTransaction {
            try $0.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try #require(!exists("-wal") && !exists("-shm"))
        let legacy = try Self.runAsNobody(["report", "--db", db, "--format", "json"])
        #expect(legacy.status == 0, "\(legacy)")
        #expect(try jsonRows(legacy.stdout).count == Peek.sampleCount(db))

        // A -wal file without its -shm, which this reader may not create: a reader's error, not a writer's.
        let killed = try Background(Self.record(db, namespace))
        try waitUntil("samples", timeout: 8) { Peek.sampleCount(db) >= after.lines.count + 3 }
        try killed.stop(SIGKILL)
        try #require(exists("-wal"))
        unlink(db + "-shm")
        Self.expectReaderFailure(try Self.runAsNobody(["report", "--db", db]), "cannot read history database \(db)")
        // No read access to the file at all.
        chmod(db, 0o600)
        Self.expectReaderFailure(try Self.runAsNobody(["report", "--db", db]), "Permission denied")
    }

    /// The number of stderr lines that mention the full disk.
    static func fullDiskLines(_ stderr: String) -> Int {
        stderr.split(separator: "\n").filter { $0.contains("is full") || $0.contains("still:") }.count
    }

    @Test func aFullDiskDoesNotStopTheRecorder() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.mountTmpfs(size: "512k")
        defer { scratch.unmount() }
        let db = scratch.file("full.db")
        let recorder = try Background(Self.record(db, namespace, interval: "20ms"))
        try waitUntil("samples", timeout: 8) { Peek.sampleCount(db) >= 5 }
        let before = try Peek.sampleIDs(db)
        try Scratch.fill(scratch.file("filler"))
        try waitUntil("the full disk in the log", timeout: 10) { recorder.stderr.contains("is full") }
        // Still full, still running: samples are skipped, not fatal.
        usleep(300_000)
        #expect(recorder.isRunning, "\(recorder.stderr)")
        #expect(Self.fullDiskLines(recorder.stderr) == 1, "one line, not one per sample: \(recorder.stderr)")
        // Stopped while the disk is still full: a clean stop all the same.
        #expect(try recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
        #expect(recorder.stderr.contains("stopped by SIGTERM"), "\(recorder.stderr)")

        try FileManager.default.removeItem(atPath: scratch.file("filler"))
        #expect(try Peek.integrity(db) == "ok")
        #expect(Set(before).isSubset(of: Set(try Peek.sampleIDs(db))))
    }

    @Test func recordingResumesOnceSpaceIsFreed() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        // Room for the write-ahead log to grow while the test runs (it is checkpointed at 4 MB only).
        try scratch.mountTmpfs(size: "2m")
        defer { scratch.unmount() }
        let db = scratch.file("resumed.db")
        let filler = scratch.file("filler")
        let recorder = try Background(Self.record(db, namespace, interval: "20ms"))
        try waitUntil("samples", timeout: 8) { Peek.sampleCount(db) >= 5 }
        let before = try Peek.sampleIDs(db)

        try Scratch.fill(filler)
        try waitUntil("the full disk in the log", timeout: 10) { recorder.stderr.contains("is full") }
        usleep(300_000)  // some 15 ticks with no room
        #expect(recorder.isRunning, "\(recorder.stderr)")
        let whileFull = try Peek.sampleIDs(db)

        try FileManager.default.removeItem(atPath: filler)
        try waitUntil("rows again", timeout: 10) { Peek.sampleCount(db) >= whileFull.count + 5 }
        #expect(try recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
        let stderr = recorder.stderr
        #expect(stderr.contains("writing again: "), "\(stderr)")
        #expect(stderr.contains("stopped by SIGTERM"), "\(stderr)")
        #expect(Self.fullDiskLines(stderr) == 1, "\(stderr)")

        #expect(try Peek.integrity(db) == "ok")
        let after = try Peek.sampleIDs(db)
        #expect(Set(before).isSubset(of: Set(after)) && Set(whileFull).isSubset(of: Set(after)))
        // The skipped samples are counted in the first row written after them; the run stopped, not crashed.
        let (missed, ended) = try Peek.queue(db).read { db in
            (
                try Int.fetchOne(db, sql: "SELECT max(missed) FROM sample") ?? 0,
                try String?.fetchAll(db, sql: "SELECT ended FROM run ORDER BY id")
            )
        }
        #expect(missed >= 10, "the ticks of the full spell show as missed")
        #expect(ended == ["stopped"])
    }

    @Test func aRestartOnAFullDiskWaitsForRoom() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let scratch = try Scratch()
        defer { scratch.remove() }
        try scratch.mountTmpfs(size: "2m")
        defer { scratch.unmount() }
        let db = scratch.file("restarted.db")
        let filler = scratch.file("filler")
        try Self.makeHistory(db, namespace)
        try #require(!FileManager.default.fileExists(atPath: db + "-shm"), "stopped cleanly: no -shm file left")
        try Scratch.fill(filler)

        // As systemd restarts it: the database cannot even be opened (SQLite cannot size its -shm file).
        let recorder = try Background(Self.record(db, namespace, interval: "20ms"))
        try waitUntil("the full disk in the log", timeout: 10) { recorder.stderr.contains("is full") }
        usleep(300_000)
        #expect(recorder.isRunning, "\(recorder.stderr)")
        #expect(Self.fullDiskLines(recorder.stderr) == 1, "\(recorder.stderr)")

        try FileManager.default.removeItem(atPath: filler)
        try waitUntil("rows again", timeout: 10) { Peek.sampleCount(db) >= 3 + 5 }
        #expect(try recorder.stop(SIGTERM) == 0, "\(recorder.stderr)")
        #expect(recorder.stderr.contains("stopped by SIGTERM"), "\(recorder.stderr)")
        let ended = try Peek.queue(db).read { try String?.fetchAll($0, sql: "SELECT ended FROM run ORDER BY id") }
        #expect(ended == ["stopped", "stopped"])
        // Last, on a read-write connection: closing it removes the -wal and -shm files, as at a clean stop.
        #expect(try Peek.integrity(db) == "ok")
        try #require(!FileManager.default.fileExists(atPath: db + "-shm"))

        // Stopped while it still waits: a clean exit too.
        try Scratch.fill(filler)
        let waiting = try Background(Self.record(db, namespace, interval: "20ms"))
        try waitUntil("the full disk in the log", timeout: 10) { waiting.stderr.contains("is full") }
        #expect(try waiting.stop(SIGTERM) == 0, "\(waiting.stderr)")
        #expect(waiting.stderr.contains("stopped by SIGTERM before"), "\(waiting.stderr)")
        try FileManager.default.removeItem(atPath: filler)
        #expect(try Peek.integrity(db) == "ok")
    }
}
