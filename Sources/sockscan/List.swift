import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List sockets, one per line (a table like ss -tan, or NDJSON).",
        discussion: """
            Examples:
              sockscan list -ta                          every TCP socket
              sockscan list -t state time-wait -H        TIME_WAIT sockets, no header
              sockscan list -tu --format json | jq .     NDJSON, one object per socket
            """
    )

    @OptionGroup var scan: ScanOptions

    @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Do not print the header line.")
    var noHeader = false

    @Flag(name: [.customShort("e"), .customLong("extended")], help: "Show uid, inode, cookie, interface and timer.")
    var extended = false

    @Flag(
        name: [.customShort("i"), .customLong("info")],
        help: "Show TCP internals (tcp_info: rtt, cwnd, retransmits, bytes).")
    var info = false

    @Flag(name: [.customShort("m"), .customLong("memory")], help: "Show socket memory (skmem).")
    var memory = false

    @Option(name: .customLong("format"), help: "Output format: table or json (NDJSON, one object per line).")
    var format: OutputFormat = .table

    func run() throws {
        var extensions: ScanExtensions = []
        if info { extensions.insert(.tcpInfo) }
        if memory { extensions.insert(.memory) }
        let query = try scan.query(extensions: extensions)
        try runtime {
            let scanner = try scan.makeScanner()
            if scan.explain { return try scan.printExplanation(scanner, query) }
            var fields: RecordFormatter.Fields = []
            if extended { fields.insert(.extended) }
            if info { fields.insert(.tcpInfo) }
            if memory { fields.insert(.memory) }
            if query.protocols == .all { fields.insert(.netid) }
            var formatter = RecordFormatter(fields: fields)
            var out = TextWriter(capacity: 65536)
            if format == .table && !noHeader { formatter.writeHeader(into: &out) }
            let json = format == .json
            try scanner.forEach(query) { record in
                if json {
                    formatter.writeJSON(record, into: &out)
                } else {
                    formatter.writeRow(record, into: &out)
                }
                if out.count >= 60000 { try out.flush(to: STDOUT_FILENO) }
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}
