import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// `sockscan churn` and `ports --sample` against a generator of known rates in a private namespace: the closes
/// each destination had over the command's own window, the keep-alive destination, and when `connect()`
/// really starts failing.
///
/// Windows are aligned on counts, not on wall-clock rates: the test sees the command subscribe (its
/// sock_diag socket joins the destroy groups in the namespace's `/proc/net/netlink`), and the generator
/// stamps every close, so the closes expected are those stamped between the subscription and the end of the
/// window the command reports (`duration_s`).
@Suite("churn and ports --sample against a generator", .serialized)
struct ChurnCLITests {
    static let keepAlive = Endpoint(address: .v4(IPv4Address(127, 0, 0, 4)), port: 7403)
    static let fast = Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7401)
    static let slow = Endpoint(address: .v4(IPv4Address(127, 0, 0, 3)), port: 7402)

    static func json(_ text: some StringProtocol) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// Whether a sock_diag socket of the namespace has joined multicast groups (`/proc/net/netlink`: protocol
    /// 4, a non-zero group mask): the command is counting.
    static func subscribed(_ namespace: TestNamespace) throws -> Bool {
        let table = try namespace.run { try String(contentsOfFile: "/proc/thread-self/net/netlink", encoding: .utf8) }
        return table.split(separator: "\n").dropFirst().contains { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count > 3 && fields[1] == "4" && fields[3].contains { $0 != "0" }
        }
    }

    /// Starts `sockscan arguments…` in the background and waits until it has subscribed.
    /// - Returns: the process, and when it subscribed (``ConnectionChurn/now()``, within 5 ms).
    static func startCounting(_ arguments: [String], in namespace: TestNamespace) throws -> (BackgroundProcess, Double)
    {
        let process = try BackgroundProcess(SockscanBinary.path, arguments)
        var before = ConnectionChurn.now()
        let deadline = before + 20  // a start on a loaded machine
        for _ in 0..<20_000 where ConnectionChurn.now() < deadline {
            if try subscribed(namespace) { return (process, (before + ConnectionChurn.now()) / 2) }
            try #require(process.isRunning, "\(arguments) ended before subscribing: \(process.stderr)")
            before = ConnectionChurn.now()
            usleep(2000)
        }
        throw CommandError("\(arguments) did not subscribe within the time allowed")
    }

    /// Waits for the process to end (at most `timeout` s) and returns its exit status.
    static func finish(_ process: BackgroundProcess, timeout: Double = 30) -> Int32? {
        for _ in 0..<Int(timeout * 100) where process.isRunning { usleep(10_000) }
        return process.stop(SIGKILL, grace: 1)
    }

    /// The destination object of `remote` in a document's `destinations`.
    static func destination(_ document: [String: Any], _ remote: Endpoint) -> [String: Any]? {
        (document["destinations"] as? [[String: Any]])?.first {
            $0["remote_address"] as? String == remote.address.description
                && $0["remote_port"] as? Int
                    == Int(remote.port)
        }
    }

    /// `got` is within 2% of `expected` (at least 2 closes either way: the subscription is seen within a few ms).
    static func expectClose(
        _ got: Int?, _ expected: Int, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let slack = max(2, Int((Double(expected) * 0.02).rounded(.up)))
        #expect(
            got.map { abs($0 - expected) <= slack } == true,
            "\(what): \(got.map(String.init) ?? "none"), generator \(expected)",
            sourceLocation: sourceLocation)
    }

    @Test("churn --duration 5s: each destination's closes are the generator's over the same window; ports --sample too")
    func closesMatchTheGenerator() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // The keep-alive destination first: the one held pair goes to it.
        let churn = try ConnectionChurn(
            in: namespace,
            destinations: [
                .init(Self.keepAlive, perSecond: 0),
                .init(Self.fast, perSecond: 400, close: .clientFirst, bytes: 300),
                .init(Self.slow, perSecond: 50, close: .serverFirst, bytes: 300),
            ], held: 1, limit: 20_000, maxSeconds: 40)
        defer { churn.stop() }
        for _ in 0..<100 where churn.made < 40 { usleep(10_000) }

        // churn: 5 s.
        let (process, start) = try Self.startCounting(
            ["churn", "--netns", namespace.name, "--duration", "5s", "--format", "json"], in: namespace)
        let status = Self.finish(process)
        #expect(status == 0, "\(process.stderr)")
        #expect(process.stderr.isEmpty, "\(process.stderr)")
        let document = try #require(Self.json(process.stdout), "\(process.stdout)")
        let seconds = try #require(document["duration_s"] as? Double)
        #expect(seconds >= 5 && seconds < 6, "\(seconds)")
        let expected = churn.closes(from: start, to: start + seconds)
        let report = churn.failure
        try #require(report == nil, "the generator failed: \(report!.text)")
        print("churn: \(expected) by the generator over \(seconds) s; \(process.stdout.prefix(400))")
        let fast = try #require(Self.destination(document, Self.fast), "\(process.stdout)")
        let slow = try #require(Self.destination(document, Self.slow), "\(process.stdout)")
        let kept = try #require(Self.destination(document, Self.keepAlive), "\(process.stdout)")
        Self.expectClose(fast["closes"] as? Int, expected[1], "closes to \(Self.fast)")
        Self.expectClose(slow["closes"] as? Int, expected[2], "closes to \(Self.slow)")
        Self.expectClose(document["closes"] as? Int, expected[1] + expected[2], "closes in all")
        #expect(document["aborted_closes"] as? Int == 0 && document["dropped_events"] as? Int == 0)
        // closes_per_s is closes over the window.
        if let closes = fast["closes"] as? Int, let rate = fast["closes_per_s"] as? Double {
            #expect(abs(rate - Double(closes) / seconds) < 0.01, "\(rate)")
        }
        // The keep-alive destination: its connection open, no close, never runs out.
        #expect(kept["closes"] as? Int == 0 && kept["ports_in_use"] as? Int == 1, "\(kept)")
        #expect(kept["seconds_to_exhaustion"] is NSNull && kept["steady_state_ports"] as? Int == 1, "\(kept)")
        // The client closes first to :7401 (TIME_WAIT here), the server to :7402 (none here).
        // The share is measured by finding sampled tuples in a TIME_WAIT dump taken while the churn goes on: a
        // dump under churn can miss a few sockets (inet_diag never sets NLM_F_DUMP_INTR; ChurnTests bounds it
        // at 1%), so a sample of 256 may come out a tuple or two short of 1.
        #expect((fast["closed_here_share"] as? Double).map { $0 >= 0.97 } == true, "\(fast)")
        #expect(slow["closed_here_share"] as? Double == 0, "\(slow)")
        // 300 bytes sent (+ SYN and FIN): within the histogram's bucket (256–320, its middle 288).
        #expect((fast["bytes_median"] as? Int).map { (256...320).contains($0) } == true, "\(fast)")
        // Steady state: TIME_WAIT for :7401 is the closes per second times 60 (plus what is open), none for
        // :7402; 55,536 ports each: never runs out.
        if let rate = fast["closes_per_s"] as? Double, let steady = fast["steady_state_ports"] as? Int {
            let share = fast["closed_here_share"] as? Double ?? 1
            #expect(abs(Double(steady) - rate * share * 60) <= 3, "\(fast)")
        }
        #expect(slow["steady_state_ports"] as? Int ?? 99 <= 2, "\(slow)")
        #expect(fast["capacity"] as? Int == 55536 && fast["seconds_to_exhaustion"] is NSNull)
        #expect(document["verdict"] as? String == "ok")

        // ports --sample 2s: the measured closes, and the estimate is time-wait / 60 of the same dump.
        let (sampling, sampleStart) = try Self.startCounting(
            ["ports", "--netns", namespace.name, "--sample", "2s", "--format", "json"], in: namespace)
        let sampleStatus = Self.finish(sampling)
        #expect(sampleStatus == 0 && sampling.stderr.isEmpty, "\(sampling.stderr)")
        let ports = try #require(Self.json(sampling.stdout), "\(sampling.stdout)")
        let sample = try #require(ports["sample"] as? [String: Any], "\(sampling.stdout)")
        let sampleSeconds = try #require(sample["seconds"] as? Double)
        let sampled = churn.closes(from: sampleStart, to: sampleStart + sampleSeconds)
        let fastPorts = try #require(Self.destination(ports, Self.fast), "\(sampling.stdout)")
        Self.expectClose(fastPorts["closes"] as? Int, sampled[1], "ports --sample: closes to \(Self.fast)")
        let timeWait = try #require((fastPorts["states"] as? [String: Int])?["time-wait"])
        let estimate = try #require(fastPorts["closes_per_s_estimate"] as? Double)
        #expect(abs(estimate - Double(timeWait) / 60) < 0.00005, "\(fastPorts)")
        // Under a minute of churn, every close made here is still in TIME_WAIT: the generator's count so far.
        let madeSoFar = churn.closes(from: 0, to: ConnectionChurn.now())[1]
        #expect(timeWait <= madeSoFar && timeWait >= madeSoFar - 2 * 400, "\(timeWait) of \(madeSoFar)")
        // Server-side closes leave no TIME_WAIT here: :7402 holds no port but the one connection the dump may
        // catch between the generator's connect and its client's close (at 50 a second, now and then).
        if let slowPorts = Self.destination(ports, Self.slow) {
            let states = slowPorts["states"] as? [String: Int] ?? [:]
            #expect(slowPorts["used"] as? Int == 1 && states["time-wait"] == nil, "\(sampling.stdout)")
        }

        // SIGINT ends the window early, and the report still comes, exit 0.
        let (interrupted, _) = try Self.startCounting(
            ["churn", "--netns", namespace.name, "--duration", "60s", "--format", "json"], in: namespace)
        usleep(300_000)
        kill(interrupted.pid, SIGINT)
        #expect(Self.finish(interrupted, timeout: 10) == 0, "\(interrupted.stderr)")
        let early = try #require(Self.json(interrupted.stdout), "\(interrupted.stdout)")
        #expect((early["duration_s"] as? Double).map { $0 > 0.2 && $0 < 5 } == true, "\(interrupted.stdout)")
        #expect((early["closes"] as? Int ?? 0) > 0)
    }

    @Test("seconds_to_exhaustion is within 10% of when connect() starts failing with EADDRNOTAVAIL")
    func exhaustionMatchesConnectFailing() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        // 3,000 ports, tcp_tw_reuse=0 (the test namespace's): 400 closes/s, each in TIME_WAIT for 60 s, fill
        // them in about 7.5 s.
        let churn = try ConnectionChurn(
            in: namespace, destinations: [.init(Self.fast, perSecond: 400, close: .clientFirst)], limit: 10_000,
            maxSeconds: 40, ephemeralPorts: 40000...42999)
        defer { churn.stop() }
        for _ in 0..<100 where churn.made < 40 { usleep(10_000) }
        let (process, start) = try Self.startCounting(
            ["churn", "--netns", namespace.name, "--duration", "2s", "--format", "json"], in: namespace)
        #expect(Self.finish(process) == 0, "\(process.stderr)")
        let document = try #require(Self.json(process.stdout), "\(process.stdout)")
        let seconds = try #require(document["duration_s"] as? Double)
        let fast = try #require(Self.destination(document, Self.fast), "\(process.stdout)")
        #expect(fast["capacity"] as? Int == 3000)
        let predicted = try #require(fast["seconds_to_exhaustion"] as? Double, "\(process.stdout)")
        // The prediction counts from the end of the window (the dump follows it within milliseconds).
        let windowEnd = start + seconds
        for _ in 0..<3000 where churn.failure == nil { usleep(10_000) }
        let failure = try #require(churn.failure, "connect() never failed: \(churn.stop())")
        #expect(failure.errno == EADDRNOTAVAIL, "\(failure.text)")
        let actual = failure.time - windowEnd
        print("exhaustion: predicted \(predicted) s, connect() failed after \(actual) s; \(churn.stop())")
        #expect(actual > 1, "the window should end well before the ports run out (\(actual) s)")
        #expect(abs(predicted - actual) <= 0.1 * actual, "predicted \(predicted) s, connect() failed after \(actual) s")
        #expect(document["verdict"] as? String == "critical")
        // Every port of the range was used; a few more connections can succeed, on a port whose TIME_WAIT
        // socket the kernel lets a new connection take over when timestamps tell the two apart.
        let made = churn.stop().made[0]
        #expect(made >= 3000 && made <= 3030, "\(made) connections on 3,000 ports")
    }

    @Test(
        "bad arguments: exit 64 naming what is wrong; a namespace that does not exist: exit 1",
        arguments: [
            (["churn", "--duration", "0s"], "--duration", 64), (["churn", "--duration", "soon"], "--duration", 64),
            (["churn", "--top", "0"], "--top", 64), (["churn", "--warn", "95", "--critical", "90"], "--warn", 64),
            (["churn", "state", "established"], "state", 64), (["ports", "--sample", "x"], "--sample", 64),
            (["churn", "--netns", "no-such-ns"], "/run/netns/no-such-ns", 1),
            (["ports", "--sample", "1s", "--netns", "no-such-ns"], "/run/netns/no-such-ns", 1),
        ])
    func badArguments(arguments: [String], named: String, status: Int32) throws {
        let result = try SockscanBinary.run(arguments)
        #expect(result.status == status, "\(result)")
        #expect(result.stdout.isEmpty && result.stderr.contains(named), "\(result)")
    }

    @Test("churn --help documents its options and the TIME_WAIT arithmetic; the top-level help lists it")
    func help() throws {
        let result = try SockscanBinary.run(["churn", "--help"])
        #expect(result.status == 0)
        for word in [
            "--duration", "--top", "--fail-at", "--netns", "--format", "Examples:", "EADDRNOTAVAIL", "TIME_WAIT",
        ] {
            #expect(result.stdout.contains(word), "churn --help lacks \(word)")
        }
        let ports = try SockscanBinary.run(["ports", "--help"])
        #expect(ports.stdout.contains("--sample") && ports.stdout.contains("time-wait / 60"), "\(ports.stdout)")
        let top = try SockscanBinary.run(["--help"])
        #expect(top.stdout.contains("  churn "), "\(top.stdout)")
    }
}
