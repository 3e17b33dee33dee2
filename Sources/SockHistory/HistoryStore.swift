import Foundation
import GRDB
import SockDiag
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// The sample history: an SQLite database in WAL mode while a recorder writes it, one transaction per sample.
///
/// A recorder opens it with ``openForRecording(path:)``: the file is created `0640`, locked with `flock`
/// (one recorder per database; the lock goes with the process, so `kill -9` leaves none behind), checked
/// (an SQLite file, a sockscan history, a schema version this build knows) before anything is written, then
/// migrated. Readers open it with ``openForReading(path:)`` and read while a recorder writes (WAL).
///
/// Readers need only read access: a WAL reader needs the `-shm` file, which a reader allowed to read but not
/// to write the directory cannot create. So ``endRun(at:)`` (a clean stop) switches the file back to a
/// rollback journal, which a reader reads without any other file; while a recorder runs, SQLite gives the
/// `-wal` and `-shm` files the database file's mode and owner, and a reader uses a read-only `-shm`.
///
/// Durability: `synchronous = FULL`, so a sample whose transaction committed survives a crash of the process
/// or of the machine; a crash mid-sample rolls that one sample back.
public final class HistoryStore {
    /// The schema version this build writes (`PRAGMA user_version`, and the last migration `vN`).
    ///
    /// - 1: the first schema.
    /// - 2: a destination keeps its reusable TIME_WAIT sockets (`reusable_time_wait`); version 1's
    ///   `utilization`, which held the share of ports blocked (TIME_WAIT that `tcp_tw_reuse` lets `connect()`
    ///   take over left out), is named for what it holds: `effective_utilization`. Version 1 files are
    ///   migrated when a recorder opens them, and read as they are.
    /// - 3: a sample keeps the connections that ended since the previous sample (`closes`, `close_seconds`,
    ///   `close_events_dropped`; NULL where not counted) and its busiest destinations by closes
    ///   (`destination_closes`). Version 2 samples are kept as they were, without closes.
    public static let schemaVersion = 3

    public let path: String
    /// Optional only so that ``deinit`` closes SQLite's descriptors before the lock's: closing any descriptor
    /// of a file drops every POSIX lock this process holds on it, SQLite's included.
    private var connection: DatabaseQueue?
    private var queue: DatabaseQueue { connection! }
    /// The descriptor holding the recorder's `flock`, -1 for a reader.
    private let lockFD: Int32
    /// The file's schema version when it was opened (a reader reads version 1 files as they are).
    private let version: Int
    /// The current recording run, once ``beginRun(_:)`` was called.
    public private(set) var runID: Int64?
    /// Whether the file is in WAL mode (from ``openForRecording(path:)`` until ``endRun(at:)``).
    private var inWALMode = true

    private init(path: String, queue: DatabaseQueue, lockFD: Int32, version: Int) {
        self.path = path
        self.connection = queue
        self.lockFD = lockFD
        self.version = version
    }

    deinit {
        connection = nil
        if lockFD >= 0 { close(lockFD) }
    }

    // MARK: opening

    /// Opens (creating if needed) the database for a recorder.
    ///
    /// - Throws: ``HistoryError``: `.cannotOpen` (read-only or missing directory), `.locked` (another
    ///   recorder), `.notADatabase`, `.foreignDatabase`, `.futureSchema` (the file is then left as it was).
    public static func openForRecording(path: String) throws(HistoryError) -> HistoryStore {
        try checkRegularFile(path)
        // O_NONBLOCK and O_NOCTTY: should another file replace it after the check, its open neither blocks nor
        // takes a terminal, and checkOpened refuses it.
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o640)
        var created = fd >= 0
        if fd < 0 && errno == EEXIST {
            fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
            created = false
        }
        if fd < 0 {
            let saved = errno
            throw .cannotOpen(path: path, errno: saved, creating: access(path, F_OK) != 0)
        }
        try checkOpened(fd, path: path)
        if created { fchmod(fd, 0o640) }  // exact, whatever the umask
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let saved = errno
            close(fd)
            if saved == EWOULDBLOCK { throw .locked(path: path, pid: recorderPID(path: path)) }
            throw .cannotOpen(path: path, errno: saved, creating: false)
        }
        do {
            try checkHeader(fd: fd, path: path)
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.label = "sockscan.history"
            let queue = try DatabaseQueue(path: path, configuration: config)
            _ = try queue.read { db in try checkSchema(db, path: path) }
            try queue.writeWithoutTransaction { db in
                try setJournalMode("wal", db, path: path)
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try migrator.migrate(queue)
            return HistoryStore(path: path, queue: queue, lockFD: fd, version: schemaVersion)
        } catch {
            close(fd)
            if created { unlink(path) }
            throw HistoryError.from(error, path: path, operation: "open history database")
        }
    }

    /// Opens an existing database for reading (it may be written at the same time); read access to the file
    /// (and to its `-wal` and `-shm` files when they exist) is enough.
    ///
    /// - Throws: ``HistoryError``: `.notFound`, `.unreadable`, `.notADatabase`, `.foreignDatabase`,
    ///   `.futureSchema`.
    public static func openForReading(path: String) throws(HistoryError) -> HistoryStore {
        try checkRegularFile(path)
        // A FIFO opened for reading without O_NONBLOCK waits for a writer, forever.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        if fd < 0 {
            let saved = errno
            if saved == ENOENT { throw .notFound(path: path) }
            throw .unreadable(path: path, reason: HistoryError.unreadableReason(path, errno: saved))
        }
        try checkOpened(fd, path: path)
        // Closed before SQLite opens the file (see ``connection``).
        do {
            defer { close(fd) }
            try checkHeader(fd: fd, path: path)
        }
        do {
            var config = Configuration()
            config.readonly = true
            config.busyMode = .timeout(10)
            func open(_ location: String) throws -> (DatabaseQueue, Int) {
                let queue = try DatabaseQueue(path: location, configuration: config)
                return (queue, try queue.read { db in try checkSchema(db, path: path) })
            }
            let (queue, version): (DatabaseQueue, Int)
            do {
                (queue, version) = try open(path)
            } catch let error as DatabaseError
                where (error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY)
                && !canCreateBeside(path) && access(path + "-wal", F_OK) != 0
            {
                // Still in WAL mode (a recorder of an older sockscan, or one that could not switch at its stop):
                // a WAL database needs its -shm file, which this user cannot create there. With no -wal file
                // no writer is at work (a writer holds one open), and the file can be read as immutable.
                (queue, version) = try open(immutableURI(path))
            }
            if version == 0 {
                throw HistoryError.sqlite(path: path, operation: "read", message: "no sample recorded yet")
            }
            return HistoryStore(path: path, queue: queue, lockFD: -1, version: version)
        } catch {
            throw HistoryError.from(error, path: path, operation: "open history database", reading: true)
        }
    }

    /// Whether this user can create a file beside `path` (the `-shm` file): its directory is writable, on a
    /// file system mounted read-write.
    private static func canCreateBeside(_ path: String) -> Bool {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        var st = statvfs()
        if statvfs(directory, &st) == 0 && st.f_flag & UInt(ST_RDONLY) != 0 { return false }
        return access(directory, W_OK | X_OK) == 0
    }

    /// Sets `PRAGMA journal_mode` (outside a transaction) and checks that SQLite did switch: it answers with
    /// the mode in force, without an error, when it cannot.
    private static func setJournalMode(_ mode: String, _ db: Database, path: String) throws {
        let now = try String.fetchOne(db, sql: "PRAGMA journal_mode = \(mode)")?.lowercased()
        guard now == mode else {
            if HistoryError.diskIsFull(path) { throw HistoryError.diskFull(path: path) }
            throw HistoryError.sqlite(
                path: path, operation: "set journal mode \(mode) on", message: "still in mode \(now ?? "unknown")")
        }
    }

    /// `file:PATH?immutable=1`, the path percent-encoded.
    private static func immutableURI(_ path: String) -> String {
        var encoded = ""
        for byte in path.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (c.isLetter || c.isNumber || "/-._~".contains(c)) {
                encoded.append(c)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return "file:\(encoded)?immutable=1"
    }

    /// Refuses a `path` that exists and is not a regular file (a link is followed: a link to a history is one),
    /// before it is opened: a FIFO would block, a device would be written, with a `-journal` file left beside it.
    private static func checkRegularFile(_ path: String) throws(HistoryError) {
        var status = stat()
        guard stat(path, &status) == 0 else { return }  // missing: created, or reported by open
        let kind = FileKind(mode: status.st_mode)
        if kind != .regular { throw .notARegularFile(path: path, kind: kind) }
    }

    /// Refuses (and closes) an opened `fd` that is not a regular file: `path` changed since the check.
    private static func checkOpened(_ fd: Int32, path: String) throws(HistoryError) {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return }
        let kind = FileKind(mode: status.st_mode)
        guard kind == .regular else {
            close(fd)
            throw .notARegularFile(path: path, kind: kind)
        }
    }

    /// Refuses a file that is neither empty nor an SQLite database, before SQLite sees it.
    private static func checkHeader(fd: Int32, path: String) throws(HistoryError) {
        var header = [UInt8](repeating: 0, count: 16)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 16, 0) }
        if n == 0 { return }  // empty: a new database
        if n < 0 { throw .cannotOpen(path: path, errno: errno, creating: false) }
        if n < 16 || header != Array("SQLite format 3\0".utf8) { throw .notADatabase(path: path) }
    }

    /// The schema version of the file (0: empty). Throws for a newer or a foreign one.
    @discardableResult
    private static func checkSchema(_ db: Database, path: String) throws -> Int {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version > schemaVersion {
            throw HistoryError.futureSchema(path: path, found: version, supported: schemaVersion)
        }
        let tables = try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        if version == 0 && !tables.isEmpty { throw HistoryError.foreignDatabase(path: path) }
        if tables.contains("grdb_migrations"), try migrator.hasBeenSuperseded(db) {
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let highest = applied.compactMap { Int($0.dropFirst()) }.max() ?? version
            throw HistoryError.futureSchema(path: path, found: max(highest, version), supported: schemaVersion)
        }
        return version
    }

    /// The pid in the newest run that has not stopped, if that process lives.
    private static func recorderPID(path: String) -> Int32? {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(2)
        guard let queue = try? DatabaseQueue(path: path, configuration: config),
            let pid = try? queue.read({ db in
                try Int32.fetchOne(db, sql: "SELECT pid FROM run WHERE stopped IS NULL ORDER BY id DESC LIMIT 1")
            })
        else { return nil }
        return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
    }

    /// A version 1 destination's reusable TIME_WAIT sockets, from its `used`, `capacity` and blocked share
    /// (`utilization`), kept between 0 and `used`; 0 without capacity. `table` prefixes the columns (`d.`).
    static func reusableFromVersion1(_ table: String = "") -> String {
        let (used, capacity, blocked) = ("\(table)used", "\(table)capacity", "\(table)utilization")
        return "CASE WHEN \(capacity) > 0 THEN MAX(0, MIN(\(used), \(used) - CAST(ROUND(\(blocked) * \(capacity)) AS "
            + "INTEGER))) ELSE 0 END"
    }

    /// Schema migrations: `v1`, `v2`… each ends by setting `user_version` to its number.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        started REAL NOT NULL,          -- unix seconds
                        stopped REAL,                   -- NULL while running (or if it died)
                        ended TEXT,                     -- 'stopped', 'crashed' (found unfinished by the next run)
                        pid INTEGER NOT NULL,
                        host TEXT NOT NULL,
                        netns TEXT,
                        filter TEXT,
                        interval_ms INTEGER NOT NULL,
                        full_every_ms INTEGER,
                        version TEXT NOT NULL
                    );
                    CREATE TABLE sample (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                        time REAL NOT NULL,             -- unix seconds, wall clock
                        tick INTEGER NOT NULL,          -- tick number in the run (monotonic schedule)
                        missed INTEGER NOT NULL,        -- ticks skipped just before this one
                        cpu_us INTEGER NOT NULL,        -- recorder CPU (user+sys) since its previous sample
                        sample_us INTEGER NOT NULL,     -- wall time to take this sample
                        \(SarColumn.allCases.map { "\($0.sqlName) INTEGER NOT NULL" }.joined(separator: ", "))
                        , \(SampleStates.all.map { "\(SampleStates.sqlName($0)) INTEGER NOT NULL" }.joined(separator: ", "))
                        , port_utilization REAL,        -- worst destination, 0...1, at a full scan
                        port_capacity INTEGER,
                        port_destinations INTEGER,
                        udp_ports INTEGER
                    );
                    CREATE INDEX sample_time ON sample(time);
                    CREATE TABLE destination (
                        sample_id INTEGER NOT NULL REFERENCES sample(id) ON DELETE CASCADE,
                        rank INTEGER NOT NULL,
                        local_address TEXT NOT NULL,
                        remote_address TEXT NOT NULL,
                        remote_port INTEGER NOT NULL,
                        used INTEGER NOT NULL,
                        capacity INTEGER NOT NULL,
                        established INTEGER NOT NULL,
                        time_wait INTEGER NOT NULL,
                        utilization REAL NOT NULL,
                        PRIMARY KEY (sample_id, rank)
                    );
                    PRAGMA user_version = 1;
                    """)
        }
        migrator.registerMigration("v2") { db in
            // Version 1 kept the blocked share (used - reusable TIME_WAIT, over capacity) as `utilization`: the
            // reusable count follows from it exactly (a whole number of ports over the capacity).
            try db.execute(
                sql: """
                    ALTER TABLE destination ADD COLUMN reusable_time_wait INTEGER NOT NULL DEFAULT 0;
                    UPDATE destination SET reusable_time_wait = \(reusableFromVersion1());
                    ALTER TABLE destination RENAME COLUMN utilization TO effective_utilization;
                    PRAGMA user_version = 2;
                    """)
        }
        migrator.registerMigration("v3") { db in
            // Columns added NULL: the samples recorded before were not counted (not zero closes).
            try db.execute(
                sql: """
                    ALTER TABLE sample ADD COLUMN closes INTEGER;               -- connections ended since the previous sample
                    ALTER TABLE sample ADD COLUMN close_seconds REAL;           -- the interval they were counted over
                    ALTER TABLE sample ADD COLUMN close_events_dropped INTEGER; -- destroy events the kernel dropped in it
                    CREATE TABLE destination_closes (
                        sample_id INTEGER NOT NULL REFERENCES sample(id) ON DELETE CASCADE,
                        rank INTEGER NOT NULL,          -- 1: the most closes in the interval
                        local_address TEXT NOT NULL,
                        remote_address TEXT NOT NULL,
                        remote_port INTEGER NOT NULL,
                        closes INTEGER NOT NULL,
                        PRIMARY KEY (sample_id, rank)
                    ) WITHOUT ROWID;
                    PRAGMA user_version = 3;
                    """)
        }
        return migrator
    }

    // MARK: writing

    /// What a recording run is.
    public struct RunInfo: Sendable {
        public var started: Double
        public var pid: Int32
        public var host: String
        public var netns: String?
        public var filter: String?
        public var interval: TimeSpan
        public var fullEvery: TimeSpan?
        public var version: String

        public init(
            started: Double, pid: Int32, host: String, netns: String?, filter: String?, interval: TimeSpan,
            fullEvery: TimeSpan?, version: String
        ) {
            self.started = started
            self.pid = pid
            self.host = host
            self.netns = netns
            self.filter = filter
            self.interval = interval
            self.fullEvery = fullEvery
            self.version = version
        }
    }

    /// Starts a run: earlier runs left unfinished (their recorder died) are marked `crashed`; the file is in
    /// WAL mode from here on (readers read while it is written).
    public func beginRun(_ info: RunInfo) throws(HistoryError) {
        if !inWALMode {
            do {
                try queue.writeWithoutTransaction { db in try Self.setJournalMode("wal", db, path: path) }
            } catch {
                throw HistoryError.from(error, path: path, operation: "start a run in")
            }
            inWALMode = true
        }
        runID = try write("start a run in") { db in
            try db.execute(
                sql: """
                    UPDATE run SET ended = 'crashed',
                        stopped = COALESCE((SELECT max(time) FROM sample WHERE run_id = run.id), started)
                    WHERE stopped IS NULL
                    """)
            try db.execute(
                sql: """
                    INSERT INTO run (started, pid, host, netns, filter, interval_ms, full_every_ms, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    info.started, info.pid, info.host, info.netns, info.filter, info.interval.milliseconds,
                    info.fullEvery?.milliseconds, info.version,
                ])
            return db.lastInsertedRowID
        }
    }

    /// Marks the run stopped, then switches the file to a rollback journal (`journal_mode = DELETE`): the
    /// write-ahead log is checkpointed into it and the `-wal` and `-shm` files go, so that a stopped history
    /// is one file, which a reader allowed to read it but not to write its directory can read.
    ///
    /// The switch waits at most 1 s for readers to finish; when they do not, the file stays in WAL mode (a
    /// reader then reads it as immutable where it cannot create the `-shm` file).
    public func endRun(at time: Double) throws(HistoryError) {
        guard let runID else { return }
        try write("stop the run in") { db in
            try db.execute(sql: "UPDATE run SET stopped = ?, ended = 'stopped' WHERE id = ?", arguments: [time, runID])
        }
        self.runID = nil
        do {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA busy_timeout = 1000")
                defer { try? db.execute(sql: "PRAGMA busy_timeout = 10000") }
                try Self.setJournalMode("delete", db, path: path)
            }
            inWALMode = false
        } catch {
            // Best effort: the run is stopped, and the file readable by whoever can create its -shm file.
        }
    }

    /// Writes one sample (and its full scan) in one transaction.
    public func insert(_ sample: Sample, tick: Int64, ports: PortSnapshot?) throws(HistoryError) {
        guard let runID else { preconditionFailure("insert before beginRun") }
        try write("write a sample to") { db in
            let columns =
                ["run_id", "time", "tick", "missed", "cpu_us", "sample_us"] + SarColumn.allCases.map(\.sqlName)
                + SampleStates.all.map(SampleStates.sqlName)
                + ["port_utilization", "port_capacity", "port_destinations", "udp_ports"]
                + ["closes", "close_seconds", "close_events_dropped"]
            var values: [(any DatabaseValueConvertible)?] = [
                runID, sample.time, tick, sample.missed, sample.cpuMicroseconds, sample.sampleMicroseconds,
            ]
            values += sample.sar.map { Int64($0) as (any DatabaseValueConvertible)? }
            values += SampleStates.all.map { Int64(sample[$0]) as (any DatabaseValueConvertible)? }
            values += [
                ports?.worstUtilization, ports?.capacity, ports?.destinationCount, ports?.udpPorts,
            ]
            values += [sample.closes?.closes, sample.closes?.seconds, sample.closes?.droppedEvents]
            try db.execute(
                sql:
                    "INSERT INTO sample (\(columns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: columns.count).joined(separator: ", ")))",
                arguments: StatementArguments(values))
            let sampleID = db.lastInsertedRowID
            for (rank, d) in (ports?.top ?? []).enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO destination (sample_id, rank, local_address, remote_address, remote_port, used,
                            capacity, established, time_wait, reusable_time_wait, effective_utilization)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        sampleID, rank + 1, d.destination.localAddress.description,
                        d.destination.remoteAddress.description, Int(d.destination.remotePort), d.used, d.capacity,
                        Int64(d.states[.established]), Int64(d.states[.timeWait]), d.reusableTimeWait,
                        d.effectiveUtilization,
                    ])
            }
            for (rank, d) in (sample.closes?.top ?? []).enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO destination_closes (sample_id, rank, local_address, remote_address, remote_port,
                            closes) VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        sampleID, rank + 1, d.destination.localAddress.description,
                        d.destination.remoteAddress.description, Int(d.destination.remotePort), d.closes,
                    ])
            }
        }
    }

    /// Samples deleted per ``prune(before:limit:)`` call at most: one short transaction, so that a large backlog
    /// (a first run with a shorter `--retention`) never holds the write lock, or grows the write-ahead log, for
    /// long. A recorder calls again at its next tick while a call comes back full.
    public static let pruneLimit = 5_000

    /// Deletes the oldest samples older than `cutoff`, at most `limit` of them (their destinations go with
    /// them), and, once none is left, the stopped runs left without samples.
    ///
    /// - Returns: the number of samples deleted: `limit` when there may be more.
    @discardableResult
    public func prune(before cutoff: Double, limit: Int = HistoryStore.pruneLimit) throws(HistoryError) -> Int {
        try write("prune") { db in
            // Oldest first, through the time index.
            try db.execute(
                sql: "DELETE FROM sample WHERE id IN (SELECT id FROM sample WHERE time < ? ORDER BY time LIMIT ?)",
                arguments: [cutoff, limit])
            let deleted = db.changesCount
            if deleted < limit {
                try db.execute(
                    sql: """
                        DELETE FROM run WHERE stopped IS NOT NULL AND stopped < ?
                            AND NOT EXISTS (SELECT 1 FROM sample WHERE run_id = run.id)
                        """, arguments: [cutoff])
            }
            return deleted
        }
    }

    private func write<T>(_ operation: String, _ body: (Database) throws -> T) throws(HistoryError) -> T {
        do {
            return try queue.write(body)
        } catch {
            throw HistoryError.from(error, path: path, operation: operation)
        }
    }

    // MARK: reading

    /// The samples with `from <= time < to`, oldest first, each with the worst destination of its full scan.
    public func samples(from: Double = -.infinity, to: Double = .infinity) throws(HistoryError) -> [Sample] {
        // A version 1 file (read, never migrated, by a reader) has no reusable count: it follows from its
        // blocked share.
        let reusable = version >= 2 ? "d.reusable_time_wait" : Self.reusableFromVersion1("d.")
        do {
            return try queue.read { db in
                // A time that is not one (text and blobs sort after every number; 1e300 is past 9999) would
                // fall outside every range and be left out silently: refused instead. Two index searches.
                if let bad = try Row.fetchOne(
                    db, sql: "SELECT id, time FROM sample WHERE time < 0 OR time > ? LIMIT 1",
                    arguments: [CheckedRow.latestTime])
                {
                    _ = try CheckedRow(bad, table: "sample", idColumn: "id", path: path).time("time")
                }
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT sample.*, d.rowid AS d_rowid, d.local_address AS d_local_address,
                            d.remote_address AS d_remote_address,
                            d.remote_port AS d_remote_port, d.used AS d_used, d.capacity AS d_capacity,
                            d.established AS d_established, d.time_wait AS d_time_wait,
                            \(reusable) AS d_reusable_time_wait
                        FROM sample LEFT JOIN destination d ON d.sample_id = sample.id AND d.rank = 1
                        WHERE time >= ? AND time < ? ORDER BY time, sample.id
                        """,
                    arguments: [from.isFinite ? from : -1e300, to.isFinite ? to : 1e300])
                let closes = version >= 3 ? try Self.destinationCloses(db, from: from, to: to, path: path) : [:]
                return try rows.map { row throws(HistoryError) in
                    var sample = try Self.sample(row, path: path)
                    if sample.closes != nil, case .int64(let id) = (row["id"] as DatabaseValue).storage {
                        sample.closes!.top = closes[id] ?? []
                    }
                    return sample
                }
            }
        } catch {
            throw HistoryError.from(error, path: path, operation: "read", reading: true)
        }
    }

    /// A recording run, as stored.
    public struct RecordedRun: Hashable, Sendable {
        public var id: Int64
        public var started: Double
        /// When it stopped (or its last sample, when the next run found it dead); `nil` while it runs.
        public var stopped: Double?
        /// `stopped` or `crashed`, `nil` while it runs.
        public var ended: String?
        public var pid: Int32
        public var interval: TimeSpan
        public var fullEvery: TimeSpan?
    }

    /// Every run still in the history, oldest first.
    public func runs() throws(HistoryError) -> [RecordedRun] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY id").map { row throws(HistoryError) in
                    let run = CheckedRow(row, table: "run", idColumn: "id", path: path)
                    return RecordedRun(
                        id: run.id, started: try run.time("started"), stopped: try run.optionalTime("stopped"),
                        ended: try run.optionalText("ended"), pid: try run.processID("pid"),
                        interval: TimeSpan(milliseconds: try run.integer("interval_ms")),
                        fullEvery: try run.optionalInteger("full_every_ms").map(TimeSpan.init(milliseconds:)))
                }
            }
        } catch {
            throw HistoryError.from(error, path: path, operation: "read", reading: true)
        }
    }

    /// Runs a read-only SQL query (tests and checks: `PRAGMA integrity_check`).
    public func scalar(_ sql: String) throws(HistoryError) -> String? {
        do {
            return try queue.read { db in try String.fetchOne(db, sql: sql) }
        } catch {
            throw HistoryError.from(error, path: path, operation: "read", reading: true)
        }
    }

    /// The busiest destinations by closes of the samples with `from <= time < to`, per sample id, most first.
    private static func destinationCloses(_ db: Database, from: Double, to: Double, path: String) throws
        -> [Int64: [DestinationCloses]]
    {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT c.sample_id, c.rank, c.local_address, c.remote_address, c.remote_port, c.closes
                FROM destination_closes c JOIN sample s ON s.id = c.sample_id
                WHERE s.time >= ? AND s.time < ? ORDER BY c.sample_id, c.rank
                """,
            arguments: [from.isFinite ? from : -1e300, to.isFinite ? to : 1e300])
        var bySample: [Int64: [DestinationCloses]] = [:]
        for row in rows {
            let columns = CheckedRow(row, table: "destination_closes", idColumn: "sample_id", path: path)
            let sampleID = try columns.integer("sample_id")
            let destination = try columns.destination()
            bySample[sampleID, default: []].append(
                DestinationCloses(destination: destination, closes: try columns.count("closes")))
        }
        return bySample
    }

    /// A sample row (with its first destination, `d_` columns), every value checked.
    private static func sample(_ row: Row, path: String) throws(HistoryError) -> Sample {
        let columns = CheckedRow(row, table: "sample", idColumn: "id", path: path)
        var sample = Sample(time: try columns.time("time"))
        for column in SarColumn.allCases { sample[column] = Double(try columns.integer(column.sqlName)) }
        for state in SampleStates.all {
            sample[state] = UInt64(clamping: try columns.integer(SampleStates.sqlName(state)))
        }
        sample.runID = try columns.integer("run_id")
        sample.missed = Int(try columns.integer("missed"))
        sample.cpuMicroseconds = try columns.integer("cpu_us")
        sample.sampleMicroseconds = try columns.integer("sample_us")
        sample.portUtilization = try columns.optionalNumber("port_utilization")
        // Version 3: the closes of the interval before the sample (a version 2 file has no such column).
        if row.hasColumn("closes"), let closes = try columns.optionalCount("closes") {
            sample.closes = IntervalCloses(
                closes: closes, seconds: try columns.nonNegativeNumber("close_seconds"),
                droppedEvents: try columns.optionalCount("close_events_dropped") ?? 0)
        }
        let destination = CheckedRow(row, table: "destination", idColumn: "d_rowid", prefix: "d_", path: path)
        if try destination.optionalText("local_address") != nil {
            var states = StateCounts()
            states[.established] = UInt64(clamping: try destination.integer("established"))
            states[.timeWait] = UInt64(clamping: try destination.integer("time_wait"))
            sample.worstDestination = DestinationReport(
                destination: try destination.destination(),
                used: Int(try destination.integer("used")), capacity: Int(try destination.integer("capacity")),
                states: states, reusableTimeWait: Int(try destination.integer("reusable_time_wait")))
        }
        return sample
    }
}

/// The columns of one row of a history table, each read with its type checked: a value a recorder never
/// writes (an edited or damaged file) is a ``HistoryError/invalidValue(path:table:row:column:found:expected:)``
/// naming the table, row and column, never a trap (GRDB's `row["column"]` subscripts trap on a mismatch).
struct CheckedRow {
    let row: Row
    let table: String
    /// The row's `rowid` (0 when it has none: a left join without a match).
    let id: Int64
    /// The prefix of this table's columns in the result (`d_` for a joined table).
    let prefix: String
    let path: String

    init(_ row: Row, table: String, idColumn: String, prefix: String = "", path: String) {
        self.row = row
        self.table = table
        self.prefix = prefix
        self.path = path
        if row.hasColumn(idColumn), case .int64(let id) = (row[idColumn] as DatabaseValue).storage {
            self.id = id
        } else {
            self.id = 0
        }
    }

    /// The latest time a sample may carry: 9999-12-31T23:59:59Z (later ones cannot be printed as dates).
    static let latestTime = 253_402_300_799.0

    func integer(_ column: String) throws(HistoryError) -> Int64 {
        guard let value = try optionalInteger(column) else { throw invalid(column, .null, "an integer") }
        return value
    }

    /// A count: an integer from 0.
    func count(_ column: String) throws(HistoryError) -> Int {
        guard let value = try optionalCount(column) else { throw invalid(column, .null, "a count (0 or more)") }
        return value
    }

    func optionalCount(_ column: String) throws(HistoryError) -> Int? {
        let value = try storage(column)
        switch value {
        case .null: return nil
        case .int64(let n) where n >= 0: return Int(n)
        default: throw invalid(column, value, "a count (0 or more)")
        }
    }

    /// A finite number from 0.
    func nonNegativeNumber(_ column: String) throws(HistoryError) -> Double {
        let value = try storage(column)
        guard let number = try optionalNumber(column), number >= 0 else {
            throw invalid(column, value, "a number from 0")
        }
        return number
    }

    /// The destination of a row's `local_address`, `remote_address` and `remote_port`.
    func destination() throws(HistoryError) -> Destination {
        let local = try text("local_address")
        let remote = try text("remote_address")
        let port = try integer("remote_port")
        guard let localAddress = IPAddress(local), let remoteAddress = IPAddress(remote),
            let remotePort = UInt16(exactly: port)
        else {
            throw .corrupt(
                path: path, message: "a destination is not an address and port: \(local) -> \(remote) port \(port)")
        }
        return Destination(localAddress: localAddress, remoteAddress: remoteAddress, remotePort: remotePort)
    }

    func optionalInteger(_ column: String) throws(HistoryError) -> Int64? {
        let value = try storage(column)
        switch value {
        case .null: return nil
        case .int64(let n): return n
        default: throw invalid(column, value, "an integer")
        }
    }

    /// A process id (positive, 32 bits).
    func processID(_ column: String) throws(HistoryError) -> Int32 {
        let value = try storage(column)
        guard case .int64(let n) = value, let pid = Int32(exactly: n), pid > 0 else {
            throw invalid(column, value, "a process id")
        }
        return pid
    }

    /// A finite number (an integer or a real).
    func number(_ column: String) throws(HistoryError) -> Double {
        guard let value = try optionalNumber(column) else { throw invalid(column, .null, "a number") }
        return value
    }

    func optionalNumber(_ column: String) throws(HistoryError) -> Double? {
        let value = try storage(column)
        switch value {
        case .null: return nil
        case .int64(let n): return Double(n)
        case .double(let x) where x.isFinite: return x
        default: throw invalid(column, value, "a number")
        }
    }

    /// Unix seconds from 1970 to 9999.
    func time(_ column: String) throws(HistoryError) -> Double {
        guard let value = try optionalTime(column) else { throw invalid(column, .null, "a time (unix seconds)") }
        return value
    }

    func optionalTime(_ column: String) throws(HistoryError) -> Double? {
        let value = try storage(column)
        let seconds: Double
        switch value {
        case .null: return nil
        case .int64(let n): seconds = Double(n)
        case .double(let x): seconds = x
        default: throw invalid(column, value, "a time (unix seconds)")
        }
        guard seconds >= 0 && seconds <= Self.latestTime else {
            throw invalid(column, value, "a time from 1970 to 9999")
        }
        return seconds
    }

    func text(_ column: String) throws(HistoryError) -> String {
        guard let value = try optionalText(column) else { throw invalid(column, .null, "text") }
        return value
    }

    func optionalText(_ column: String) throws(HistoryError) -> String? {
        let value = try storage(column)
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: throw invalid(column, value, "text")
        }
    }

    private func storage(_ column: String) throws(HistoryError) -> DatabaseValue.Storage {
        guard row.hasColumn(prefix + column) else {
            throw .invalidValue(
                path: path, table: table, row: id, column: column, found: "nothing (no such column)",
                expected: "a value")
        }
        return (row[prefix + column] as DatabaseValue).storage
    }

    private func invalid(_ column: String, _ value: DatabaseValue.Storage, _ expected: String) -> HistoryError {
        .invalidValue(
            path: path, table: table, row: id, column: column, found: Self.describe(value), expected: expected)
    }

    /// `the text "abc"` (at most 40 characters, control characters escaped), `the real number 1.5`, …
    static func describe(_ value: DatabaseValue.Storage) -> String {
        switch value {
        case .null: return "NULL"
        case .int64(let n): return "the integer \(n)"
        case .double(let x): return "the real number \(x)"
        case .string(let text):
            return "the text \(String(text.prefix(40)).debugDescription)\(text.count > 40 ? "…" : "")"
        case .blob(let data): return "a blob of \(data.count) bytes"
        }
    }
}

extension SarColumn {
    /// The database column (`tcp_tw`).
    var sqlName: String { name.replacingOccurrences(of: "-", with: "_") }
}

extension SampleStates {
    /// The database column of a state (`time_wait`).
    static func sqlName(_ state: TCPState) -> String { state.name.replacingOccurrences(of: "-", with: "_") }
}
