import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

public struct List: ScanCommand, ScanSelection {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "list",
        abstract: "List sockets, one per line (a table like ss -tan, NDJSON or CSV).",
        discussion: """
            Output is streamed as the kernel returns sockets: listing 500k sockets keeps memory flat, and \
            `sockscan list | head -1` ends quietly.

            -p finds the process holding each socket by reading every /proc/PID/fd once, after the scan, \
            keeping only the sockets that matched. Without root (or CAP_SYS_PTRACE), /proc/PID/fd of other \
            users' processes cannot be read: only your own processes are shown (a note on stderr says how \
            many were not). Sockets in TIME_WAIT or SYN_RECV have no process.

            JSON fields: proto family state local_address local_port remote_address remote_port recv_q send_q \
            uid inode cookie interface timer, plus tcp_info (-i), memory (-m), process (-p: {"pid","comm","fd"}, \
            or an array of them when several descriptors share the socket). CSV has a header row and the \
            flat fields, then the timer (-e), tcp_info.* (-i), memory.* (-m) and pid,comm,fd (-p; shared \
            sockets list their owners separated by ';'); values a socket lacks are empty.

            Examples:
              sockscan list -ta                       every TCP socket
              sockscan list -t state time-wait -H     TIME_WAIT sockets, no header
              sockscan list -tu --format json | jq .  NDJSON, one object per socket
              sockscan list -tlp                      listeners and their processes
              sockscan list -ta --format csv > s.csv  CSV with a header row
              sockscan list -ta --netns blue dport = :443

            A worked example (sshd listening, one client connected; spacing shortened):
              $ sockscan list -tap sport = :22
              State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
              LISTEN 0 128 0.0.0.0:22    0.0.0.0:*       users:(("sshd",pid=812,fd=3))
              ESTAB  0 0   10.0.0.5:22   10.0.0.9:51234  users:(("sshd",pid=4711,fd=4))
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    // The ss selection (ScanSelection), first so that --help lists it first.
    @Flag(.tcp) var tcp = false
    @Flag(.udp) var udp = false
    @Flag(.ipv4) var ipv4 = false
    @Flag(.ipv6) var ipv6 = false
    @Flag(exclusivity: .chooseLast) var stateSelection: StateSelection?
    @Flag(.numeric) var numeric = false
    @Option(.netns) var netns: String?
    @Flag(.proc) var proc = false
    @Option(.tcpStrategy) var tcpStrategy: TCPDumpStrategy = .automatic
    @Flag(.explain) var explain = false
    @Argument(.filter) var filter: [String] = []

    @Flag(.noHeader) var noHeader = false

    @Flag(.extended) var extended = false

    @Flag(.info) var info = false

    @Flag(name: [.customShort("m"), .customLong("memory")], help: "Show socket memory (skmem).")
    var memory = false

    @Flag(
        name: [.customShort("p"), .customLong("processes")],
        help: "Show the processes holding each socket (pid, comm, fd); all processes need root or CAP_SYS_PTRACE.")
    var processes = false

    @Option(.format) var format: RowFormat = .table

    public mutating func validate() throws { try validateSelection() }

    public func run() throws {
        var extensions: ScanExtensions = []
        if info { extensions.insert(.tcpInfo) }
        if memory { extensions.insert(.memory) }
        try runtime {
            let query = try query(extensions: extensions)
            let scanner = try makeScanner()
            let prepared = try scanner.prepare(query)  // once: the scan and --explain read the same plan
            if explain { return try printExplanation(prepared) }
            var fields: RecordFormatter.Fields = []
            if extended { fields.insert(.extended) }
            if info { fields.insert(.tcpInfo) }
            if memory { fields.insert(.memory) }
            if processes { fields.insert(.processes) }
            if query.protocols == .all { fields.insert(.netid) }
            let owners = processes ? try ownersReported(scanner, query) : nil
            var formatter = RecordFormatter(fields: fields) { scanner.interfaceName($0) }
            var out = TextWriter(capacity: 65536)
            if !noHeader { format.writeHeader(formatter, into: &out) }
            let format = format
            try scanner.forEach(prepared) { record in
                format.write(record, &formatter, owners: owners, into: &out)
                if out.count >= 60000 { try out.flush(to: STDOUT_FILENO) }
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}

/// The owners of the sockets `query` matches, with a note on stderr when processes could not be inspected.
func ownersReported(_ scanner: Scanner, _ query: ScanQuery) throws -> ProcessTable {
    let owners = try scanner.owners(of: query)
    let denied = owners.statistics.deniedProcesses
    if denied > 0 {
        Console.warn(
            "sockscan: note: \(denied) processes could not be inspected (their /proc/PID/fd needs root or CAP_SYS_PTRACE); their sockets show no process"
        )
    }
    return owners
}
