import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

struct Count: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count sockets per state.",
        discussion: """
            Examples:
              sockscan count -ta                         TCP sockets per state
              sockscan count -t state time-wait          just the TIME_WAIT count (filtered in the kernel)
              sockscan count -tua --format json          {"total": N, "established": n, ...}
            """
    )

    @OptionGroup var scan: ScanOptions

    @Flag(name: [.customShort("H"), .customLong("no-header")], help: "Do not print the header line.")
    var noHeader = false

    @Option(name: .customLong("format"), help: "Output format: table or json (one object).")
    var format: OutputFormat = .table

    func run() throws {
        let query = try scan.query()
        try runtime {
            let scanner = try scan.makeScanner()
            if scan.explain { return try scan.printExplanation(scanner, query) }
            let counts = try scanner.count(query)
            var out = TextWriter()
            switch format {
            case .json:
                out.write("{\"total\":")
                out.write(counts.total)
                for (state, count) in counts.nonZero {
                    out.write(",")
                    out.writeJSONString(state.name)
                    out.write(":")
                    out.write(count)
                }
                out.write("}\n")
            case .table:
                if !noHeader { out.write("State        Count\n") }
                for (state, count) in counts.nonZero {
                    let start = out.count
                    out.write(state.name)
                    out.pad(13 - (out.count - start))
                    out.write(count)
                    out.write("\n")
                }
                out.write("total        ")
                out.write(counts.total)
                out.write("\n")
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}
