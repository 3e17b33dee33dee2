import Foundation
import SockDiag
import SockMetrics
import SockReport
import SockScanTestSupport
import Testing

@Suite("Exposition formats")
struct ExpositionTests {
    /// A family of each kind, with label values that need escaping.
    static let families: [MetricFamily] = [
        MetricFamily(
            name: "demo_sockets", help: "Sockets by state.", type: .gauge,
            samples: [
                MetricSample([.init("state", "time-wait")], 3),
                MetricSample([.init("state", #"a "quoted" \ value"#)], 0),
                MetricSample([.init("state", "line\nbreak")], 7),
            ]),
        MetricFamily(
            name: "demo_duration_seconds", help: #"Time (backslash \ inside)."#, type: .gauge, unit: "seconds",
            samples: [MetricSample([], 0.125)]),
        MetricFamily(name: "demo_dumps_total", help: "Dumps.", type: .counter, samples: [MetricSample([], 42)]),
        MetricFamily(
            name: "demo_build_info", help: "Version.", type: .info,
            samples: [MetricSample([.init("version", "1.2.3")], 1)]),
        MetricFamily(name: "demo_empty", help: "No samples: left out.", type: .gauge, samples: []),
    ]

    static func text(_ format: ExpositionFormat) -> String {
        String(decoding: Exposition.render(families, as: format), as: UTF8.self)
    }

    @Test func openMetricsStructure() throws {
        let text = Self.text(.openMetrics)
        #expect(text.hasSuffix("\n# EOF\n"))
        let lines = text.split(separator: "\n").map(String.init)
        // Counters and info families are named without their suffix in the metadata, with it in samples.
        #expect(lines.contains("# TYPE demo_dumps counter"))
        #expect(lines.contains("demo_dumps_total 42"))
        #expect(lines.contains("# TYPE demo_build info"))
        #expect(lines.contains(#"demo_build_info{version="1.2.3"} 1"#))
        #expect(lines.contains("# UNIT demo_duration_seconds seconds"))
        #expect(lines.contains(#"# HELP demo_duration_seconds Time (backslash \\ inside)."#))
        #expect(lines.contains(#"demo_sockets{state="a \"quoted\" \\ value"} 0"#))
        #expect(lines.contains(#"demo_sockets{state="line\nbreak"} 7"#))
        #expect(!text.contains("demo_empty"))
        // Metadata comes before the family's samples, each family once.
        let typeLines = lines.filter { $0.hasPrefix("# TYPE ") }
        #expect(typeLines.count == 4)
        #expect(
            lines.firstIndex(of: "# TYPE demo_sockets gauge")! < lines.firstIndex { $0.hasPrefix("demo_sockets{") }!)
    }

    @Test func prometheusTextHasHelpAndTypeAndNoEOF() throws {
        let text = Self.text(.prometheus)
        #expect(!text.contains("# EOF"))
        #expect(!text.contains("# UNIT"))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains("# TYPE demo_dumps_total counter"))
        #expect(lines.contains("# TYPE demo_build_info gauge"))
        #expect(lines.contains("# HELP demo_sockets Sockets by state."))
        // Families keep their order even though each registry emits in hash order.
        let order = lines.filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(order == ["demo_sockets", "demo_duration_seconds", "demo_dumps_total", "demo_build_info"])
        // And samples keep the family's order.
        let states = lines.filter { $0.hasPrefix("demo_sockets{") }.map { $0.prefix(22) }
        #expect(states == [#"demo_sockets{state="ti"#, #"demo_sockets{state="a "#, #"demo_sockets{state="li"#])
    }

    @Test func bothFormatsCarryTheSameSamples() throws {
        let prometheus = try ExpositionText(Self.text(.prometheus))
        let openMetrics = try ExpositionText(Self.text(.openMetrics))
        #expect(prometheus.samples == openMetrics.samples)
        #expect(prometheus.value("demo_sockets", ["state": "line\nbreak"]) == 7)
        #expect(prometheus.value("demo_sockets", ["state": #"a "quoted" \ value"#]) == 0)
        #expect(prometheus.value("demo_duration_seconds") == 0.125)
        #expect(prometheus.samples.count == 6)
    }

    @Test func prometheusTextPassesPromtool() throws {
        let result = try Promtool.checkMetrics(Self.text(.prometheus))
        #expect(result.status == 0, "\(result.stderr)\(result.stdout)")
        #expect(result.stderr.isEmpty && result.stdout.isEmpty, "\(result.stderr)\(result.stdout)")
    }

    @Test func promtoolCatchesABadCounterName() throws {
        // The check above must be able to fail: a counter without _total is a lint problem.
        let text = "# HELP demo_dumps Dumps.\n# TYPE demo_dumps counter\ndemo_dumps 1\n"
        #expect(try Promtool.checkMetrics(text).status != 0)
    }

    @Test(
        arguments: [
            (nil, ExpositionFormat.prometheus),
            ("*/*", .prometheus),
            ("text/plain", .prometheus),
            ("text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .prometheus),
            ("application/openmetrics-text", .openMetrics),
            ("application/openmetrics-text; version=1.0.0; charset=utf-8", .openMetrics),
            // Prometheus 2.42's scrape header.
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                    + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .openMetrics
            ),
            // Prometheus 3's, with UTF-8 escaping parameters.
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;"
                    + "version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;"
                    + "q=0.3,*/*;q=0.2", .openMetrics
            ),
            ("text/plain;q=0.9, application/openmetrics-text;q=0.5", .prometheus),
            ("application/openmetrics-text;q=0, text/plain", .prometheus),
            ("application/openmetrics-text;version=2.0.0, text/plain;q=0.1", .prometheus),
            ("application/json", .prometheus),
            ("APPLICATION/OpenMetrics-Text ; Version=\"1.0.0\"", .openMetrics),
        ] as [(String?, ExpositionFormat)])
    func negotiation(accept: String?, expected: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(accept: accept) == expected)
    }

    @Test func contentTypes() {
        #expect(
            ExpositionFormat.openMetrics.contentType == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(ExpositionFormat.prometheus.contentType == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test(arguments: [
        (3.0, "3"), (0.125, "0.125"), (0, "0"), (-2, "-2"), (1e-5, "1e-05"), (Double.nan, "NaN"),
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (1e20, "1e+20"),
    ])
    func numbers(value: Double, text: String) {
        #expect(Exposition.number(value) == text)
    }
}

@Suite("Socket metric families")
struct SocketMetricsFamilyTests {
    static func snapshot() -> SocketSnapshot {
        var snapshot = SocketSnapshot()
        snapshot[.tcp, .inet][.timeWait] = 5
        snapshot[.tcp, .inet6][.established] = 2
        snapshot[.udp, .inet][.close] = 1
        snapshot.sockstat.tcpTimeWait = 5
        snapshot.sockstat.tcpMemoryPages = 3
        snapshot.pageSize = 4096
        snapshot.capacity = 28231
        snapshot.destinations = 3
        let local = IPAddress.v4(.loopback)
        snapshot.top = (0..<3).map { i in
            DestinationReport(
                destination: Destination(localAddress: local, remoteAddress: local, remotePort: UInt16(8000 + i)),
                used: 100 - i, capacity: 28231, states: StateCounts())
        }
        snapshot.duration = 0.002
        return snapshot
    }

    @Test func valuesAndCardinality() throws {
        let families = SocketMetrics.families(Self.snapshot(), top: 2, version: "9.9.9")
        let text = try ExpositionText(String(decoding: Exposition.render(families, as: .prometheus), as: UTF8.self))
        #expect(text.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "time-wait"]) == 5)
        #expect(text.value("sockscan_sockets", ["proto": "tcp", "family": "inet6", "state": "established"]) == 2)
        #expect(text.value("sockscan_sockets", ["proto": "udp", "family": "inet", "state": "close"]) == 1)
        #expect(text.value("sockscan_sockets", ["proto": "tcp", "family": "inet", "state": "listen"]) == 0)
        // 11 TCP states and 2 UDP ones per family, zero or not.
        #expect(text.samples(named: "sockscan_sockets").count == 26)
        #expect(text.value("sockscan_sockstat_memory_bytes", ["proto": "tcp"]) == 12288.0)
        #expect(text.value("sockscan_ephemeral_ports_capacity") == 28231)
        // --top 2 of 3 destinations: two series, the busiest.
        let ratios = text.samples(named: "sockscan_port_utilization_ratio")
        #expect(ratios.count == 2)
        #expect(
            text.value(
                "sockscan_port_utilization_ratio",
                ["local_address": "127.0.0.1", "remote_address": "127.0.0.1", "remote_port": "8000"])
                == 100.0 / 28231)
        #expect(text.value("sockscan_build_info", ["version": "9.9.9"]) == 1)
        #expect(text.value("sockscan_kernel_dumps_total") == nil)  // one-shot: no exporter counters
    }

    @Test func topZeroDisablesDestinations() throws {
        let families = SocketMetrics.families(Self.snapshot(), top: 0, version: "1")
        let text = String(decoding: Exposition.render(families, as: .openMetrics), as: UTF8.self)
        #expect(!text.contains("sockscan_port_utilization_ratio"))
        #expect(!text.contains("sockscan_port_destinations"))
        #expect(text.contains("sockscan_ephemeral_ports_capacity 28231"))
    }

    @Test func exporterCountersAndPromtool() throws {
        let families = SocketMetrics.families(
            Self.snapshot(), top: 10, version: "1", counters: ExporterCounters(scans: 4, failures: 1, dumpRequests: 16))
        let prometheus = String(decoding: Exposition.render(families, as: .prometheus), as: UTF8.self)
        let text = try ExpositionText(prometheus)
        #expect(text.value("sockscan_kernel_dumps_total") == 16)
        #expect(text.value("sockscan_scans_total") == 4)
        #expect(text.value("sockscan_scan_failures_total") == 1)
        let openMetrics = try ExpositionText(
            String(decoding: Exposition.render(families, as: .openMetrics), as: UTF8.self))
        #expect(openMetrics.samples == text.samples)
        let result = try Promtool.checkMetrics(prometheus)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
    }
}
