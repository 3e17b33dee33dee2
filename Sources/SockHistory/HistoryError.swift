import GRDB
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Why the history database cannot be used, worded for the operator: what happened to which file, and
/// what to do.
public enum HistoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file does not exist (reading).
    case notFound(path: String)
    /// The file cannot be created or opened for writing (`errno`).
    case cannotOpen(path: String, errno: Int32, creating: Bool)
    /// The file is not an SQLite database.
    case notADatabase(path: String)
    /// An SQLite database, but not a sockscan history (tables of something else).
    case foreignDatabase(path: String)
    /// Written by a newer sockscan: its schema version is above the one this build knows.
    case futureSchema(path: String, found: Int, supported: Int)
    /// Another recorder holds the database.
    case locked(path: String, pid: Int32?)
    /// SQLite reports the file or its directory read-only (writing).
    case readOnly(path: String)
    /// The file cannot be read by this user (reading): why, and what to do.
    case unreadable(path: String, reason: String)
    /// SQLite ran out of space.
    case diskFull(path: String)
    /// SQLite found the file damaged.
    case corrupt(path: String, message: String)
    /// Any other SQLite error, with what was being done.
    case sqlite(path: String, operation: String, message: String)
    /// The path names something else than a regular file (a FIFO, a device, a directory): refused before it is
    /// opened for SQLite.
    case notARegularFile(path: String, kind: FileKind)
    /// A row holds a value a recorder never writes there (the file was edited or damaged): which table, row
    /// (its `rowid`) and column, what it holds and what was expected.
    case invalidValue(path: String, table: String, row: Int64, column: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "history database \(path) does not exist; record one with: sockscan record --db \(path)"
        case .cannotOpen(let path, let errno, let creating):
            let reason = String(cString: strerror(errno))
            let what = creating ? "create history database" : "open history database"
            switch errno {
            case EROFS, EACCES, EPERM:
                return "cannot \(what) \(path) for writing: \(reason); choose a writable path (--db)"
            case ENOSPC:
                return "cannot \(what) \(path): \(reason); free some space"
            default:
                return "cannot \(what) \(path): \(reason)"
            }
        case .notADatabase(let path):
            return "\(path) is not an SQLite database (not a sockscan history); it was left untouched"
        case .foreignDatabase(let path):
            return "\(path) is an SQLite database of another program (no sockscan history in it); it was left untouched"
        case .futureSchema(let path, let found, let supported):
            return
                "\(path) has history schema version \(found), newer than this sockscan knows (\(supported)); "
                + "upgrade sockscan to use it; the file was left untouched"
        case .locked(let path, let pid):
            let who = pid.map { "another recorder (pid \($0))" } ?? "another recorder"
            return "\(who) is already writing \(path); one recorder per database: stop it first or use another --db"
        case .readOnly(let path):
            return "history database \(path) is read-only (file, directory or file system); choose a writable --db"
        case .unreadable(let path, let reason):
            return "cannot read history database \(path): \(reason)"
        case .diskFull(let path):
            return
                "the disk holding \(path) is full: nothing more was written, what the database holds is intact; free some space"
        case .corrupt(let path, let message):
            return "history database \(path) is damaged (\(message)); move it aside and start a new one"
        case .sqlite(let path, let operation, let message):
            return "\(operation) \(path): \(message)"
        case .notARegularFile(let path, let kind):
            return
                "history database \(path) is \(kind), not a regular file; give the path of a history file (created if "
                + "missing)"
        case .invalidValue(let path, let table, let row, let column, let found, let expected):
            return
                "history database \(path): table \(table), row id \(row): column \(column) holds \(found), not \(expected)"
        }
    }

    /// Maps an SQLite error met while doing `operation` on `path`; `reading`: by a reader, who is never told
    /// to choose a writable file.
    static func from(_ error: any Error, path: String, operation: String, reading: Bool = false) -> HistoryError {
        if let error = error as? HistoryError { return error }
        guard let error = error as? DatabaseError else {
            return .sqlite(path: path, operation: operation, message: "\(error)")
        }
        if reading, error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_CANTOPEN {
            return .unreadable(path: path, reason: unreadableReason(path, message: error.message))
        }
        switch error.resultCode {
        case .SQLITE_FULL: return .diskFull(path: path)
        case .SQLITE_READONLY: return .readOnly(path: path)
        case .SQLITE_NOTADB: return .notADatabase(path: path)
        case .SQLITE_CORRUPT: return .corrupt(path: path, message: error.message ?? "corrupt")
        case .SQLITE_IOERR where diskIsFull(path):
            return .diskFull(path: path)
        case .SQLITE_IOERR:
            return .sqlite(
                path: path, operation: operation,
                message: "I/O error (\(error.message ?? "disk I/O error")): is the disk full or failing?")
        default:
            return .sqlite(path: path, operation: operation, message: error.message ?? "\(error)")
        }
    }

    /// Why a reader cannot open `path` read-only, from what it can see of the files: SQLite needs the
    /// `-shm` file of a database in WAL mode, and must be able to read the `-wal` and `-shm` files there are.
    static func unreadableReason(_ path: String, message: String?) -> String {
        let wal = path + "-wal"
        let shm = path + "-shm"
        if access(wal, F_OK) == 0 && access(wal, R_OK) != 0 {
            return "\(wal) is not readable by this user (give it the database file's group and mode, 0640)"
        }
        if access(shm, F_OK) == 0 && access(shm, R_OK) != 0 {
            return "\(shm) is not readable by this user (give it the database file's group and mode, 0640)"
        }
        if access(wal, F_OK) == 0 && access(shm, F_OK) != 0 {
            return
                "its write-ahead log \(wal) (left by a recorder that did not stop cleanly) needs \(shm), which this "
                + "user cannot create in that directory; start the recorder again, or report once as its user"
        }
        return "SQLite cannot open it read-only (\(message ?? "unable to open"))"
    }

    /// Why a reader cannot open `path` (`errno` of `open`).
    static func unreadableReason(_ path: String, errno: Int32) -> String {
        let reason = String(cString: strerror(errno))
        switch errno {
        case EACCES, EPERM:
            return "\(reason); reading needs read access to the file (the recorder creates it 0640: put the reader "
                + "in the file's group)"
        default:
            return reason
        }
    }

    /// Whether the file system holding `path` has (almost) no space left: SQLite reports a full disk as an
    /// I/O error when the `-shm` or `-wal` file cannot grow.
    static func diskIsFull(_ path: String) -> Bool {
        var st = statvfs()
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        guard statvfs(directory.isEmpty ? "/" : directory, &st) == 0 else { return false }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize) < 64 * 1024
    }
}
