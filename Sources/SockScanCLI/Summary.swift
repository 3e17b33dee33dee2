import ArgumentParser
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

public struct Summary: ScanCommand {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "summary",
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
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    @Option(.netns) var netns: String?

    @Option(.format) var format: DocumentFormat = .table

    public func validate() throws { try requireNonEmpty(netns, "--netns") }

    public func run() throws {
        try runtime {
            let namespace = try namespace(netns)
            let stat = try Sockstat.read(namespace: namespace)
            let scanner = try Scanner(namespace: namespace, logger: Console.logger())
            let counts = try scanner.count(ScanQuery(protocols: .tcp, families: .all, states: .all))
            var out = TextWriter(capacity: 1024)
            switch format {
            case .json: SummaryFormatter().writeJSON(stat, tcp: counts, into: &out)
            case .table: SummaryFormatter().writeTable(stat, tcp: counts, into: &out)
            }
            try out.flush(to: STDOUT_FILENO)
        }
    }
}
