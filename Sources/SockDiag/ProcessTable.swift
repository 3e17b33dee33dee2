import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A process holding a socket open: its pid, its command name, and the descriptor number.
public struct SocketProcess: Hashable, Sendable, CustomStringConvertible {
    /// The process id (the thread-group leader).
    public var pid: Int32
    /// `/proc/PID/comm`: the command name, at most 15 bytes.
    public var comm: String
    /// The file descriptor in that process.
    public var fd: Int32

    /// A process `pid` named `comm` holding the socket as descriptor `fd`.
    public init(pid: Int32, comm: String, fd: Int32) {
        self.pid = pid
        self.comm = comm
        self.fd = fd
    }

    /// `("comm",pid=N,fd=M)`, one entry of what `ss -p` prints in `users:(…)`.
    public var description: String { "(\"\(comm)\",pid=\(pid),fd=\(fd))" }
}

/// Which processes hold which sockets: socket inodes mapped to (pid, comm, fd) by one walk of
/// `/proc/*/fd`.
///
/// The kernel's socket records carry an inode but no owner; the only way to the owner is every process's
/// descriptor table, where a socket descriptor's link reads `socket:[INODE]`. That walk is what makes
/// `ss -p` and psutil slow, so it is done once, and only the inodes asked for are kept: collect the
/// inodes of the sockets that matched first, then resolve them.
///
/// Which processes are visible depends on privilege: `/proc/PID/fd` is readable only with ptrace read
/// access to the process, so without root (or `CAP_SYS_PTRACE`, or with `/proc` mounted `hidepid=`)
/// only the caller's own processes are seen; the others are counted in
/// ``Statistics/deniedProcesses``. Socket inodes are global (not per network namespace), so the same
/// walk serves a scan of any namespace.
///
/// Processes that exit during the walk and descriptors closed under it (`ENOENT`, `ESRCH`) are skipped.
/// Threads that unshared their descriptor table (`unshare(CLONE_FILES)`) are not visited, as with `ss`.
public struct ProcessTable: Sendable {
    /// What the walk saw.
    public struct Statistics: Hashable, Sendable {
        /// Process directories whose descriptor table was read.
        public var processes = 0
        /// Processes whose `fd` directory could not be opened (`EACCES`, `EPERM`): another user's, without
        /// root or `CAP_SYS_PTRACE`.
        public var deniedProcesses = 0
        /// Processes that exited during the walk.
        public var vanishedProcesses = 0
        /// Descriptors whose link was read.
        public var descriptors = 0
        /// Descriptors that pointed at a socket asked for.
        public var matches = 0

        /// Nothing walked yet.
        public init() {}
    }

    /// One owner, compact: the command name is an index into `comms`.
    struct Entry: Hashable, Sendable {
        var pid: Int32
        var fd: Int32
        var comm: Int32
    }

    /// The first owner of each socket (the lowest pid, then the lowest fd).
    private var first: [UInt32: Entry]
    /// The other owners of sockets held by more than one descriptor, in the same order.
    private var more: [UInt32: [Entry]] = [:]
    /// The command names, one per process that holds a socket asked for.
    private var comms: [String] = []
    /// What the walk saw.
    public private(set) var statistics = Statistics()

    /// The number of sockets with at least one owner.
    public var count: Int { first.count }

    /// Walks `procRoot` once and records the owners of the sockets in `inodes`.
    ///
    /// - Parameters:
    ///   - inodes: the socket inodes to resolve (0, the inode of a TIME_WAIT or SYN_RECV minisocket, never
    ///     matches).
    ///   - procRoot: the proc file system (a fixture directory in tests): `PID/fd/N` links and `PID/comm`.
    /// - Throws: ``ProcNetError/unreadable(file:errno:)`` when `procRoot` itself cannot be read.
    public init(resolving inodes: Set<UInt32>, procRoot: String = "/proc") throws(ProcNetError) {
        first = [:]
        first.reserveCapacity(inodes.count)
        guard !inodes.isEmpty else { return }
        guard let root = opendir(procRoot) else { throw .unreadable(file: procRoot, errno: Errno(rawValue: errno)) }
        defer { closedir(root) }
        let rootFD = dirfd(root)
        // "socket:[4294967295]" is 19 bytes: a longer link is not a socket.
        let link = UnsafeMutableBufferPointer<CChar>.allocate(capacity: 64)
        defer { link.deallocate() }
        while let entry = readdir(root) {
            guard let pid = Self.number(in: entry) else { continue }
            let processFD = openat(rootFD, Self.name(of: entry), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard processFD >= 0 else {
                statistics.vanishedProcesses += 1
                continue
            }
            walkProcess(pid, processFD: processFD, inodes: inodes, link: link)
            close(processFD)
        }
        sortShared()
    }

    /// Reads one process's descriptor table.
    private mutating func walkProcess(
        _ pid: Int32, processFD: Int32, inodes: Set<UInt32>, link: UnsafeMutableBufferPointer<CChar>
    ) {
        let tableFD = openat(processFD, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard tableFD >= 0 else {
            switch errno {
            case EACCES, EPERM: statistics.deniedProcesses += 1
            default: statistics.vanishedProcesses += 1  // ENOENT, ESRCH: it exited
            }
            return
        }
        guard let table = fdopendir(tableFD) else {
            close(tableFD)
            statistics.vanishedProcesses += 1
            return
        }
        defer { closedir(table) }
        statistics.processes += 1
        var comm: Int32 = -1
        while let entry = readdir(table) {
            guard let fd = Self.number(in: entry) else { continue }  // . and ..
            let length = readlinkat(tableFD, Self.name(of: entry), link.baseAddress!, link.count)
            guard length > 0 else { continue }  // closed meanwhile (ENOENT)
            statistics.descriptors += 1
            guard let inode = Self.socketInode(UnsafeBufferPointer(rebasing: link[0..<length])),
                inodes.contains(inode)
            else { continue }
            if comm < 0 {
                guard let text = Self.readComm(processFD) else {
                    // The process exited after its table was opened: its descriptors are gone.
                    statistics.vanishedProcesses += 1
                    return
                }
                comms.append(text)
                comm = Int32(comms.count - 1)
            }
            statistics.matches += 1
            let owner = Entry(pid: pid, fd: fd, comm: comm)
            if first[inode] == nil {
                first[inode] = owner
            } else {
                more[inode, default: []].append(owner)
            }
        }
    }

    /// Puts the owners of shared sockets in (pid, fd) order, whatever order readdir gave.
    private mutating func sortShared() {
        for (inode, others) in more {
            guard let head = first[inode] else { continue }
            let all = ([head] + others).sorted { ($0.pid, $0.fd) < ($1.pid, $1.fd) }
            first[inode] = all[0]
            more[inode] = Array(all.dropFirst())
        }
    }

    /// The owner with the lowest pid (then fd), if any process holds the socket.
    public func firstOwner(of inode: UInt32) -> SocketProcess? {
        first[inode].map(process)
    }

    /// Whether more than one descriptor holds the socket.
    public func isShared(_ inode: UInt32) -> Bool { more[inode] != nil }

    /// Calls `body` with every owner of the socket, lowest pid first; allocates nothing.
    public func forEachOwner(of inode: UInt32, _ body: (SocketProcess) throws -> Void) rethrows {
        guard let head = first[inode] else { return }
        try body(process(head))
        if let others = more[inode] {
            for entry in others { try body(process(entry)) }
        }
    }

    /// Every owner of the socket, lowest pid first; empty when none is known.
    public func owners(of inode: UInt32) -> [SocketProcess] {
        var result: [SocketProcess] = []
        forEachOwner(of: inode) { result.append($0) }
        return result
    }

    private func process(_ entry: Entry) -> SocketProcess {
        SocketProcess(pid: entry.pid, comm: comms[Int(entry.comm)], fd: entry.fd)
    }

    // MARK: parsing, without allocating per descriptor

    /// The NUL-terminated name inside a directory entry, in place.
    ///
    /// Never `entry.pointee.d_name`: that copies the whole 256-byte array, while `readdir` returns records
    /// only `d_reclen` long, so a record at the end of glibc's buffer makes the copy read past it (the bug
    /// behind swift-corelibs-foundation PR 5472).
    private static func name(of entry: UnsafeMutablePointer<dirent>) -> UnsafePointer<CChar> {
        (UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!).assumingMemoryBound(
            to: CChar.self)
    }

    /// The entry's name as a non-negative decimal number (`1234`), or nil (`self`, `.`, `net`).
    private static func number(in entry: UnsafeMutablePointer<dirent>) -> Int32? {
        let name = UnsafeRawPointer(name(of: entry)).assumingMemoryBound(to: UInt8.self)
        var value: Int64 = 0
        var i = 0
        while name[i] != 0 {
            let digit = name[i] &- UInt8(ascii: "0")
            guard digit < 10, i < 10 else { return nil }
            value = value * 10 + Int64(digit)
            i += 1
        }
        return i > 0 && value <= Int64(Int32.max) ? Int32(value) : nil
    }

    /// The inode of a link that reads `socket:[INODE]`, or nil for anything else (files, pipes,
    /// `anon_inode:…`, a truncated link).
    static func socketInode(_ link: UnsafeBufferPointer<CChar>) -> UInt32? {
        let prefix: StaticString = "socket:["
        let prefixLength = prefix.utf8CodeUnitCount
        guard link.count > prefixLength + 1, UInt8(bitPattern: link[link.count - 1]) == UInt8(ascii: "]") else {
            return nil
        }
        for i in 0..<prefixLength where UInt8(bitPattern: link[i]) != prefix.utf8Start[i] { return nil }
        var value: UInt64 = 0
        for i in prefixLength..<(link.count - 1) {
            let digit = UInt8(bitPattern: link[i]) &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + UInt64(digit)
            if value > UInt64(UInt32.max) { return nil }
        }
        return UInt32(value)
    }

    /// `/proc/PID/comm` without its newline, or nil when the process is gone.
    private static func readComm(_ processFD: Int32) -> String? {
        let fd = openat(processFD, "comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 64)
        var n: Int
        repeat {
            n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { return nil }
        var end = n
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}

extension Scanner {
    /// The owners of the sockets that match `query`: one scan collects their inodes (without the query's
    /// extensions), then one walk of `/proc/*/fd` resolves them.
    ///
    /// Sockets opened after the scan have no owner in the table; sockets closed meanwhile keep theirs.
    /// - Throws: ``SockDiagError``.
    public func owners(of query: ScanQuery, procRoot: String = "/proc") throws(SockDiagError) -> ProcessTable {
        var inodesQuery = query
        inodesQuery.extensions = []
        var inodes = Set<UInt32>()
        do {
            try forEach(inodesQuery) { record in
                if record.inode != 0 { inodes.insert(record.inode) }
            }
            return try ProcessTable(resolving: inodes, procRoot: procRoot)
        } catch {
            throw SockDiagError.typed(error)
        }
    }
}
