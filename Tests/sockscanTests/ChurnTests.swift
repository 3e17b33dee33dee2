import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// Scans while thousands of connections a second open and close in the namespace: every scan exits 0 with
/// valid output, and its TCP counts are within 1% of `/proc/net/sockstat` read just before and just after it.
///
/// The bracket: sockstat's counts (O(1) to read) before and after the scan bound what the table held while
/// the dump walked it; 1% on either side allows for what inet_diag cannot promise under churn (it never
/// sets NLM_F_DUMP_INTR: resuming by bucket and position, it can see a socket twice or miss one when the
/// table changes between batches). Two comparisons:
/// - sockets in use: every state but TIME-WAIT, FIN-WAIT-2 and SYN-RECV against `TCP inuse` + `TCP6 inuse`.
///   Most churn here resets its connections, so this count stays put and its bracket is narrow: a scan
///   that lost or doubled 2% of the table fails it. (An orphaned FIN-WAIT-2 socket is a timewait socket,
///   counted in `tw`, not `inuse`; request sockets (SYN-RECV) are in neither.)
/// - all TCP sockets (but SYN-RECV) against `inuse` + `inuse6` + `tw`: TIME-WAIT grows while a scan runs,
///   so this bracket is wider.
@Suite("Scans under connection churn", .serialized)
struct ChurnTests {
    /// Four destinations: resets (no TIME-WAIT, most of the churn), TIME-WAIT on the client side, on the
    /// server side (IPv6), and resets over IPv6.
    static let destinations = [
        ConnectionChurn.Destination(
            Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7201), perSecond: 1500, close: .reset),
        ConnectionChurn.Destination(
            Endpoint(address: .v4(IPv4Address(127, 0, 0, 3)), port: 7202), perSecond: 500, close: .clientFirst),
        ConnectionChurn.Destination(Endpoint(address: .v6(.loopback), port: 7203), perSecond: 400, close: .serverFirst),
        ConnectionChurn.Destination(Endpoint(address: .v6(.loopback), port: 7204), perSecond: 600, close: .reset),
    ]

    /// sockstat's TCP counts of the namespace.
    struct Counts {
        /// `TCP inuse` + `TCP6 inuse`.
        var inUse: Int
        /// `TCP inuse` + `TCP6 inuse` + `tw`.
        var all: Int
    }

    static func sockstat(_ namespace: TestNamespace) throws -> Counts {
        let s = try Sockstat.read(namespace: namespace.namespace)
        return Counts(inUse: Int(s.tcpInUse + s.tcp6InUse), all: Int(s.tcpInUse + s.tcp6InUse + s.tcpTimeWait))
    }

    /// Runs one scan between two sockstat reads.
    static func bracketed(_ arguments: [String], _ namespace: TestNamespace) throws -> (
        result: CommandResult, before: Counts, after: Counts
    ) {
        let before = try sockstat(namespace)
        let result = try SockscanBinary.run([arguments[0], "--netns", namespace.name] + arguments.dropFirst())
        let after = try sockstat(namespace)
        return (result, before, after)
    }

    /// Compares a scan's sockets per state (state names as the CLI prints them) with the bracket.
    static func expectWithinBracket(
        _ states: [String: Int], _ before: Counts, _ after: Counts, _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        func check(_ total: Int, _ a: Int, _ b: Int, _ kind: String) {
            let lower = Int((Double(min(a, b)) * 0.99).rounded(.down))
            let upper = Int((Double(max(a, b)) * 1.01).rounded(.up))
            #expect(
                (lower...upper).contains(total),
                "\(what): \(total) TCP sockets \(kind), sockstat read \(min(a, b))...\(max(a, b))",
                sourceLocation: sourceLocation)
        }
        let all = states.filter { $0.key != "syn-recv" }.values.reduce(0, +)
        let inUse = all - (states["time-wait"] ?? 0) - (states["fin-wait-2"] ?? 0)
        check(inUse, before.inUse, after.inUse, "in use")
        check(all, before.all, after.all, "in all")
    }

    static func json(_ text: some StringProtocol) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    @Test func scansStayExactUnderChurn() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let churn = try ConnectionChurn(
            in: namespace, destinations: Self.destinations, held: 1500, limit: 150_000, maxSeconds: 90)
        defer { churn.stop() }
        // Some TIME-WAIT first, so that the table is not only the held pairs.
        for _ in 0..<500 where churn.made < 3000 { usleep(10_000) }
        try #require(churn.made > 0, "the generator made no connection: \(churn.stop())")

        var scans = 0
        var madeDuringScans = 0
        for round in 0..<4 {
            let madeBefore = churn.made

            // count -ta: the table's total row, less SYN-RECV.
            let count = try Self.bracketed(["count", "-ta"], namespace)
            #expect(count.result.status == 0 && count.result.stderr.isEmpty, "round \(round) count: \(count.result)")
            var rows: [String: Int] = [:]
            for line in count.result.lines.dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                #expect(fields.count == 2, "count row '\(line)'")
                if fields.count == 2, let n = Int(fields[1]) { rows[String(fields[0])] = n }
            }
            let total = rows.removeValue(forKey: "total")
            let countTotal = try #require(total, "\(count.result.stdout)")
            #expect(rows.values.reduce(0, +) == countTotal)
            Self.expectWithinBracket(rows, count.before, count.after, "count -ta")

            // list -ta --format json: every line an object with the socket fields.
            let list = try Self.bracketed(["list", "-ta", "--format", "json"], namespace)
            #expect(list.result.status == 0 && list.result.stderr.isEmpty, "round \(round) list: \(list.result)")
            var listed: [String: Int] = [:]
            var bad = 0
            for line in list.result.lines {
                guard let object = Self.json(line), object["proto"] as? String == "tcp",
                    let state = object["state"] as? String, object["local_port"] is Int, object["cookie"] is Int
                else {
                    bad += 1
                    continue
                }
                listed[state, default: 0] += 1
            }
            #expect(bad == 0, "round \(round): \(bad) lines of list --format json are not socket objects")
            Self.expectWithinBracket(listed, list.before, list.after, "list -ta --format json")

            // summary --format json: one object; tcp_total less SYN-RECV.
            let summary = try Self.bracketed(["summary", "--format", "json"], namespace)
            #expect(summary.result.status == 0 && summary.result.stderr.isEmpty, "summary: \(summary.result)")
            let object = try #require(Self.json(summary.result.stdout), "summary: \(summary.result.stdout)")
            let states = try #require(object["tcp_states"] as? [String: Int])
            let tcpTotal = try #require(object["tcp_total"] as? Int)
            #expect(states.values.reduce(0, +) == tcpTotal)
            Self.expectWithinBracket(states, summary.before, summary.after, "summary --format json")

            // ports --format json: one document; the client-side TIME-WAIT destination is among the busiest.
            let ports = try Self.bracketed(["ports", "--format", "json"], namespace)
            #expect(ports.result.status == 0 && ports.result.stderr.isEmpty, "ports: \(ports.result)")
            let report = try #require(Self.json(ports.result.stdout), "ports: \(ports.result.stdout)")
            let destinations = try #require(report["destinations"] as? [[String: Any]])
            #expect(
                destinations.contains {
                    $0["remote_address"] as? String == "127.0.0.3" && $0["remote_port"] as? Int == 7202
                        && ($0["used"] as? Int ?? 0) > 0
                }, "ports: \(ports.result.stdout.prefix(600))")

            scans += 4
            madeDuringScans += churn.made - madeBefore
        }
        let report = churn.stop()
        #expect(report.failure == nil, "\(report)")
        #expect(madeDuringScans > 0, "connections were made while scanning")
        print("churn: \(report); \(scans) scans; \(madeDuringScans) connections made while scanning")
    }
}
