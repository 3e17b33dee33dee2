import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Socket totals as sar -n SOCK and ss -s give them, with TCP counts per state.",
        discussion: """
            The totals come from /proc/net/sockstat and sockstat6 of the namespace scanned (O(1), the source \
            of sar -n SOCK): totsck (sockets of every family in use, netlink and unix included; per namespace \
            since Linux 4.16), \
            tcpsck (IPv4 TCP in use, TIME_WAIT not included), udpsck, rawsck, ip-frag, tcp-tw (TIME_WAIT of \
            both families), and for IPv6 tcp6sck udp6sck raw6sck ip6-frag. The TCP states come from one \
            kernel dump of both families.

            JSON is one object: the sar names as keys, then "tcp_states" with every state name and its count, \
            and "tcp_total".

            Examples:
              sockscan summary                       this namespace
              sockscan summary --netns blue --format json | jq '."tcp-tw"'

            A worked example:
              $ sockscan summary
              Sockets (sar -n SOCK)
                 totsck    tcpsck    udpsck    rawsck   ip-frag    tcp-tw
                    812        10         4         0         0         3
                tcp6sck   udp6sck   raw6sck  ip6-frag
                      4         1         0         0
              TCP: orphan 0, alloc 17, mem 2 pages

              TCP states (one kernel pass, IPv4 and IPv6)
              established    9
              listen         5
              time-wait      3
              total         17
            """
    )

    @Option(
        name: .customLong("netns"),
        help: ArgumentHelp("Summarise another network namespace.", valueName: "NAME|PATH|PID"))
    var netns: String?

    @Option(name: .customLong("format"), help: "Output format: table or json (one object).")
    var format: OutputFormat = .table

    func validate() throws { try requireNonEmpty(netns, "--netns") }

    func run() throws {
        try runtime {
            let namespace = try netns.map { try NetworkNamespace($0) }
            let stat = try Sockstat.read(namespace: namespace)
            let scanner = try Scanner(namespace: namespace, onWarning: { Console.warn($0) })
            let counts = try scanner.count(ScanQuery(protocols: .tcp, families: .all, states: .all))
            var out = TextWriter(capacity: 1024)
            let sar: [(String, UInt64)] = [
                ("totsck", stat.socketsUsed), ("tcpsck", stat.tcpInUse), ("udpsck", stat.udpInUse),
                ("rawsck", stat.rawInUse), ("ip-frag", stat.fragInUse), ("tcp-tw", stat.tcpTimeWait),
            ]
            let sar6: [(String, UInt64)] = [
                ("tcp6sck", stat.tcp6InUse), ("udp6sck", stat.udp6InUse), ("raw6sck", stat.raw6InUse),
                ("ip6-frag", stat.frag6InUse),
            ]
            switch format {
            case .json:
                out.write("{")
                for (i, (name, value)) in (sar + sar6).enumerated() {
                    if i > 0 { out.write(",") }
                    out.writeJSONString(name)
                    out.write(":")
                    out.write(value)
                }
                out.write(",\"tcp_states\":{")
                for (i, state) in TCPState.allCases.enumerated() {
                    if i > 0 { out.write(",") }
                    out.writeJSONString(state.name)
                    out.write(":")
                    out.write(counts[state])
                }
                out.write("},\"tcp_total\":")
                out.write(counts.total)
                out.write("}\n")
            case .table:
                func columns(_ values: [(String, UInt64)]) {
                    for (name, _) in values {
                        out.pad(10 - name.utf8.count)
                        out.write(name)
                    }
                    out.write("\n")
                    for (_, value) in values {
                        out.pad(10 - String(value).utf8.count)
                        out.write(value)
                    }
                    out.write("\n")
                }
                out.write("Sockets (sar -n SOCK)\n")
                columns(sar)
                columns(sar6)
                out.write("TCP: orphan ")
                out.write(stat.tcpOrphan)
                out.write(", alloc ")
                out.write(stat.tcpAllocated)
                out.write(", mem ")
                out.write(stat.tcpMemoryPages)
                out.write(" pages\n\nTCP states (one kernel pass, IPv4 and IPv6)\n")
                for (state, count) in counts.nonZero {
                    out.write(state.name)
                    out.pad(16 - state.name.utf8.count - String(count).utf8.count)
                    out.write(count)
                    out.write("\n")
                }
                out.write("total")
                out.pad(11 - String(counts.total).utf8.count)
                out.write(counts.total)
                out.write("\n")
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}
