import Foundation
import SockDiag
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

/// `watch` and `record` against a generator of known rates in a private namespace: the closes they store
/// add up to exactly what the generator closed, and the closes per second of each row, times its interval,
/// to the same within 2%. Totals over the whole run are compared, not each interval: which interval a close
/// falls in depends on when the generator ran relative to the ticks, the whole does not (the generator runs
/// between the first and the last tick).
@Suite(.serialized) struct ClosesLiveTests {
    static let fast = Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7311)
    static let slow = Endpoint(address: .v6(.loopback), port: 7312)

    /// Sets the namespace's ephemeral range to the generator's before anything counts (a collector reads it
    /// once, when it starts).
    static func prepare(_ namespace: TestNamespace) throws {
        let set = try namespace.exec(
            "sh", ["-c", "echo '10000 65535' > /proc/sys/net/ipv4/ip_local_port_range"])
        try #require(set.status == 0, "\(set)")
    }

    /// The closes of `rows` to `endpoint`, from their `top_closes`.
    static func closes(_ rows: ArraySlice<[String: Any]>, to endpoint: Endpoint) -> Int {
        rows.reduce(0) { sum, row in
            let top = row["top_closes"] as? [[String: Any]] ?? []
            return sum
                + top.filter {
                    $0["remote_address"] as? String == endpoint.address.description
                        && $0.number("remote_port") == Double(endpoint.port)
                }.reduce(0) { $0 + Int($1.number("closes") ?? 0) }
        }
    }

    @Test func watchAndRecordCountWhatTheGeneratorClosed() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        try Self.prepare(namespace)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let watchDB = scratch.file("watch.db")
        let recordDB = scratch.file("record.db")

        let watch = try Background([
            "watch", "--netns", namespace.name, "--interval", "1", "--top", "2", "--db", watchDB,
        ])
        defer { _ = try? watch.stop(SIGKILL) }
        let record = try Background(["record", "--netns", namespace.name, "--interval", "1s", "--db", recordDB])
        defer { _ = try? record.stop(SIGKILL) }
        // Both have taken their first sample (which starts the first interval) before the first connection.
        try waitUntil("watch's first row", timeout: 10) { watch.stdout.split(separator: "\n").count >= 2 }
        try waitUntil("record's first sample", timeout: 10) { Peek.sampleCount(recordDB) >= 1 }
        let churn = try ConnectionChurn(
            in: namespace,
            destinations: [
                .init(Self.fast, perSecond: 400, close: .clientFirst),
                .init(Self.slow, perSecond: 50, close: .serverFirst),
            ],
            held: 2, limit: 1200, maxSeconds: 4)
        for _ in 0..<400 where churn.made < 1200 { usleep(10_000) }
        let generated = churn.stop()
        try #require(generated.failure == nil, "\(generated)")
        // Each destination's held pair ends at stop() too, closed by the client first.
        let expected = [generated.made[0] + 1, generated.made[1] + 1]
        // Three samples of each after the last close: the first of them may have been stamped before it.
        let samples = (watch: Peek.sampleCount(watchDB), record: Peek.sampleCount(recordDB))
        try waitUntil("three samples after the last close", timeout: 20) {
            Peek.sampleCount(watchDB) >= samples.watch + 3 && Peek.sampleCount(recordDB) >= samples.record + 3
        }
        #expect(try record.stop(SIGTERM) == 0, "\(record.stderr)")
        #expect(try watch.stop(SIGTERM) == 0, "\(watch.stderr)")
        // Nothing else on stderr: a tick missed under load (a busy machine, a slow fsync) is logged, and fine.
        #expect(
            SockscanBinary.withoutMissedTicks(watch.stderr).isEmpty && !record.stderr.contains("warning"),
            "\(watch.stderr)\(record.stderr)")

        // The table: a closes/s column, - in the first row; the busiest destinations under each row.
        let lines = watch.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0].hasSuffix(" closes/s"), "\(lines[0])")
        #expect(lines[1].hasSuffix(" -"), "\(lines[1])")
        #expect(
            lines.filter { $0.first?.isNumber == true && !$0.contains("totsck") && !$0.contains("->") }.count
                == Peek.sampleCount(watchDB))
        #expect(lines.contains { $0.hasSuffix(" closes/s  127.0.0.1 -> 127.0.0.2:7311") }, "\(watch.stdout)")

        for db in [watchDB, recordDB] {
            let report = try Sockscan.run(["report", "--db", db, "--format", "json"])
            #expect(report.status == 0, "\(report)")
            let rows = try jsonRows(report.stdout)
            try #require(rows.count >= 4, "\(db): \(report.stdout)")
            #expect(rows[0]["closes_per_s"] is NSNull, "the first sample starts the first interval")
            let counted = rows.dropFirst()
            let total = counted.reduce(0) { $0 + Int($1.number("closes") ?? -1_000_000) }
            #expect(total == expected.reduce(0, +), "\(db): \(generated)")
            #expect(Self.closes(counted, to: Self.fast) == expected[0], "\(db): \(generated)")
            #expect(Self.closes(counted, to: Self.slow) == expected[1], "\(db): \(generated)")
            #expect(counted.allSatisfy { $0.number("close_events_dropped") == 0 })
            // Each row's closes per second times its interval (from the previous row's time to its own).
            var fromRates = 0.0
            for (previous, row) in zip(rows, counted) {
                fromRates += try #require(row.number("closes_per_s")) * (row.time! - previous.time!)
            }
            #expect(
                abs(fromRates - Double(expected.reduce(0, +))) <= 0.02 * Double(expected.reduce(0, +)),
                "\(db): \(fromRates) vs \(generated)")
        }
        // Aggregated rows sum the same closes.
        let perTwo = try jsonRows(
            try Sockscan.run(["report", "--db", recordDB, "--every", "2s", "--format", "json"]).stdout)
        #expect(perTwo.reduce(0) { $0 + Int($1.number("closes") ?? 0) } == expected.reduce(0, +))
    }

    /// The destroy groups take any user (the kernel's sock_diag sets `NL_CFG_F_NONROOT_RECV`), as a dump
    /// does: a user without any capability gets the column, and no warning.
    @Test func aUserWithoutCapabilitiesCountsCloses() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        try Self.prepare(namespace)
        // Before the generator: the first use may copy the binaries (a checkout others cannot enter).
        let binary = SockscanBinary.pathForOtherUsers
        // Until it is stopped, well after the watch's three rows however slowly the watch starts.
        let churn = try ConnectionChurn(
            in: namespace, destinations: [.init(Self.fast, perSecond: 200)], limit: 12_000, maxSeconds: 60)
        defer { churn.stop() }
        let result = try namespace.exec(
            "setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", binary, "watch", "--count", "3", "--interval", "500ms",
                "--top", "1",
            ])
        #expect(result.status == 0, "\(result)")
        #expect(SockscanBinary.withoutMissedTicks(result.stderr).isEmpty, "\(result.stderr)")
        #expect(result.lines.first?.hasSuffix(" closes/s") == true, "\(result.stdout)")
        let destinations = result.lines.filter { $0.hasSuffix("127.0.0.1 -> 127.0.0.2:7311") }
        #expect(destinations.count == 2, "\(result.stdout)")
    }

    /// Where the kernel refuses the destroy events (a seccomp or container policy: here every setsockopt
    /// fails with EPERM, through strace), watch goes on without the column and says so once.
    @Test func refusedEventsLeaveTheColumnOutWithOneWarning() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let result = try Command.run(
            try Command.locate("strace"),
            [
                "-f", "-qq", "-o", "/dev/null", "-e", "trace=setsockopt", "-e", "inject=setsockopt:error=EPERM",
                SockscanBinary.path, "watch", "--count", "3", "--interval", "200ms", "--netns", namespace.name,
            ])
        #expect(result.status == 0, "\(result)")
        // strace stops the process at every system call: a tick may be missed, and is logged.
        let warnings = SockscanBinary.withoutMissedTicks(result.stderr).split(separator: "\n")
        #expect(warnings.count == 1, "\(result.stderr)")
        #expect(
            warnings.first?.hasPrefix(
                "sockscan watch: warning: the closes/s column is left out: cannot count closed connections: ") == true,
            "\(result.stderr)")
        #expect(warnings.first?.contains("Operation not permitted") == true, "\(result.stderr)")
        #expect(result.lines.count == 5 && !result.stdout.contains("closes/s"), "\(result.stdout)")
    }
}

/// What the live tests let through on stderr under load: the missed-tick lines, nothing else.
@Suite struct MissedTickFilterTests {
    @Test func onlyMissedTickLinesAreDropped() {
        let stderr = """
            sockscan watch: missed 1 tick: the sample took 1713 ms (the scan 9 ms, writing it 1704 ms), interval 1s
            sockscan record: recording every 1s (ports every 1m) into /tmp/x.db, keeping 14d; pid 9417
            sockscan record: missed 37 ticks in 60 s (12 times; the latest: woke 30 ms late)
            sockscan watch: warning: the kernel refused the destroy events (EPERM); no closes/s column
            sockscan watch: missed the namespace
            """
        #expect(
            SockscanBinary.withoutMissedTicks(stderr) == """
                sockscan record: recording every 1s (ports every 1m) into /tmp/x.db, keeping 14d; pid 9417
                sockscan watch: warning: the kernel refused the destroy events (EPERM); no closes/s column
                sockscan watch: missed the namespace
                """)
    }
}
