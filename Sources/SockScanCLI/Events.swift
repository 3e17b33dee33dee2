import ArgumentParser
import SockDiag
import SockFormat
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

public struct Events: ScanCommand {
    public init() {}

    public static let subcommandConfiguration = CommandConfiguration(
        commandName: "events",
        abstract: "Stream the sockets the kernel destroys, as connections end (like ss -E).",
        discussion: """
            A TCP connection ends with both its sockets destroyed: the side that closed first when it enters \
            TIME_WAIT, the other when the last ACK arrives, both at once on a reset (a socket aborted here, \
            SO_LINGER 0, shows local address 0.0.0.0 or :: and peer port *). Each destroyed socket is printed \
            as it happens, after the start only: a table row (a Time column, local time of day, then the list \
            table; the state is always UNCONN), an NDJSON object or a CSV line, written after each batch the \
            kernel delivers, so a pipe into grep sees events live. The filter is tested on each event. The \
            queues are the kernel's last word: Recv-Q of a TCP socket is 1 when the peer's FIN was its last \
            segment; a UDP socket's Send-Q reads 4294967295 (the kernel's -1 once its memory is freed).

            JSON: {"event":"destroy","time":"2026-05-01T14:25:03.123456Z",...} then the fields of list \
            --format json; time is RFC 3339, UTC, to the microsecond, when sockscan received the event. CSV: \
            event,time, then the columns of list. -i adds the final tcp_info (bytes, retransmits, rtt; TCP only).

            The kernel drops an event when the receive buffer (--receive-buffer) is full, and counts it: \
            sockscan reads that exact count, reports new drops on stderr (at most once a second) and in the \
            summary. Dropped events are counted before any filter. When it stops (--count, --duration, SIGINT \
            or SIGTERM), one line on stderr, after "sockscan events: ":
              400 events in 2.00 s (200.0/s), 0 dropped by the kernel (receive buffer full)

            Any user may run it: Linux lets every user receive the destroy events of the namespace (as it \
            lets every user list sockets); --netns needs root. Where a security policy reserves them to \
            CAP_NET_ADMIN, the error says so.

            Exit status: 0 stopped with nothing dropped; 2 the kernel dropped events (the output is \
            incomplete; the summary says how many); 1 a runtime failure (a policy refusing the events, a \
            namespace that cannot be entered); 64 a usage error (a filter that tests state or autobound).

            Examples:
              sockscan events                          TCP connections as they end
              sockscan events -tu -4 dst 10.0.0.5      TCP and UDP, IPv4, to one host
              sockscan events --format json | jq -c 'select(.remote_port == 443)'
              sockscan events --duration 10s -H | wc -l    closes in 10 s
              sockscan events -i --format csv dport = :5432 > closes.csv
              sockscan events --netns gw1 --receive-buffer 64M

            A worked example (a client closing its connection to a web server):
              $ sockscan events dport = :80
              Time            State    Recv-Q  Send-Q Local Address:Port  Peer Address:Port
              14:25:03.120014 UNCONN        0       0 10.0.0.5:51234      10.0.0.9:80
            """,
        version: SockScanRoot.version
    )

    public static let rootConfiguration = SockScanRoot.asRoot(subcommandConfiguration)

    @Flag(.tcp) var tcp = false
    @Flag(.udp) var udp = false
    @Flag(.ipv4) var ipv4 = false
    @Flag(.ipv6) var ipv6 = false
    @Flag(.noHeader) var noHeader = false
    @Flag(.extended) var extended = false
    @Flag(.info) var info = false
    @Option(.format) var format: RowFormat = .table

    @Option(
        name: .customLong("count"), parsing: .unconditional,
        help: ArgumentHelp("Stop after N events.", valueName: "N"))
    var count: Int?

    @Option(
        name: .customLong("duration"), parsing: .unconditional,
        help: ArgumentHelp("Stop after this long (500ms, 10s, 1m, 2h).", valueName: "DURATION"),
        transform: TimeSpan.argument(.standard))
    var duration: TimeSpan?

    @Option(
        name: .customLong("receive-buffer"), parsing: .unconditional,
        help: ArgumentHelp(
            "The receive buffer for bursts of events: bytes, or with K, M or G (default 8M, from 4K to 1G).",
            valueName: "BYTES"),
        transform: Self.byteCount)
    var receiveBuffer: Int = 8 << 20

    @Option(.netns) var netns: String?

    @Argument(.eventFilter) var filter: [String] = []

    public mutating func validate() throws {
        try requireNonEmpty(netns, "--netns")
        _ = try selectedFamilies(ipv4: ipv4, ipv6: ipv6)
        if let count, count < 1 { throw ValidationError("--count must be at least 1 (got \(count))") }
    }

    /// `65536`, `64K`, `8M`, `1G` (powers of 1024) as a number of bytes from 4 KiB to 1 GiB.
    static func byteCount(_ text: String) throws -> Int {
        let units: [Character: Int] = [
            "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30,
        ]
        let scale = text.last.flatMap { units[$0] } ?? 1
        let digits = scale == 1 ? Substring(text) : text.dropLast()
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(digits) else {
            throw ValidationError(
                "--receive-buffer '\(text)' is not a size; expected bytes, or with K, M or G (64K, 8M)")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: scale)
        guard !overflow, (4096...(1 << 30)).contains(bytes) else {
            throw ValidationError("--receive-buffer '\(text)' must be from 4K to 1G")
        }
        return bytes
    }

    public func run() throws {
        // Before any thread exists: every thread inherits the mask, and the stop signals wait for the
        // thread that takes them (no handler runs in the middle of a write).
        StopSignals.block()
        let summary = try runtime { try stream() }
        if summary.dropped > 0 { throw ExitCode(2) }
    }

    /// What a run of `events` saw.
    struct Summary {
        var events = 0
        var dropped: UInt64 = 0
    }

    /// Subscribes, prints events until a stop, then the summary line.
    private func stream() throws -> Summary {
        let monitor = try subscribe()
        var fields: RecordFormatter.Fields = [.event]
        if extended { fields.insert(.extended) }
        if info { fields.insert(.tcpInfo) }
        if selectedProtocols(tcp: tcp, udp: udp) == .all { fields.insert(.netid) }
        let namespace = monitor.namespace
        var formatter = RecordFormatter(fields: fields) { index in
            guard let namespace else { return NetworkDevices.name(of: index) }
            return (try? namespace.run { NetworkDevices.name(of: index) }) ?? nil
        }
        var out = TextWriter(capacity: 65536)
        if !noHeader {
            format.writeHeader(formatter, into: &out)
            try out.flush(to: STDOUT_FILENO)
        }
        let start = Clock.monotonic()
        try Self.stopOnSignal(monitor, deadline: duration.map { start &+ $0.nanoseconds })
        var summary = Summary()
        let limit = count ?? .max
        var warned: UInt64 = 0
        var lastWarning: Int64 = 0
        let format = format
        while !monitor.isStopped && summary.events < limit {
            try monitor.receive(timeout: .seconds(1)) { event in
                guard summary.events < limit else { return }
                format.write(event, &formatter, into: &out)
                summary.events += 1
                if out.count >= 60000 { try out.flush(to: STDOUT_FILENO) }
            }
            try out.flush(to: STDOUT_FILENO)  // each batch now: a reader sees events as they come
            let dropped = monitor.droppedEvents
            let now = Clock.monotonic()
            if dropped > warned && now - lastWarning >= 1_000_000_000 {
                Console.warn(
                    "sockscan events: the kernel dropped \(dropped - warned) events (receive buffer of "
                        + "\(monitor.receiveBufferBytes) bytes full; \(dropped) in all); raise --receive-buffer")
                warned = dropped
                lastWarning = now
            }
        }
        monitor.stop()
        summary.dropped = monitor.droppedEvents
        let seconds = Double(Clock.monotonic() - start) / 1e9
        var line = TextWriter()
        line.write("sockscan events: \(summary.events) events in ")
        line.write(seconds, decimals: 2)
        line.write(" s (")
        line.write(seconds > 0 ? Double(summary.events) / seconds : 0, decimals: 1)
        line.write("/s), \(summary.dropped) dropped by the kernel (receive buffer full)")
        Console.warn(line.string)
        return summary
    }

    /// Joins the destroy groups these options ask for; a refusal (a policy reserving them to `CAP_NET_ADMIN`)
    /// says so.
    private func subscribe() throws -> SocketEventMonitor {
        do {
            return try SocketEventMonitor(
                namespace: try namespace(netns), protocols: selectedProtocols(tcp: tcp, udp: udp),
                families: try selectedFamilies(ipv4: ipv4, ipv6: ipv6), filter: try parseFilterWords(filter),
                receiveBufferBytes: receiveBuffer)
        } catch SockDiagError.kernel(let error) where error.errno == .notPermitted || error.errno == .permissionDenied {
            // Linux lets any user join them (NL_CFG_F_NONROOT_RECV); a refusal comes from a policy that
            // reserves them to CAP_NET_ADMIN.
            throw CommandFailure(
                "the kernel refused to join the sock_diag destroy groups (\(error.errno), "
                    + "\(error.errno.symbolicName)): a security policy here (SELinux, seccomp, a container) reserves "
                    + "them to CAP_NET_ADMIN; run it as root (sudo sockscan events)")
        }
    }

    /// Starts a thread that stops `monitor` when SIGINT or SIGTERM arrives, or at `deadline` (monotonic
    /// nanoseconds).
    ///
    /// The thread is never joined: once the stream ends (this way or by `--count`) the process exits, and a
    /// thread still waiting for a signal ends with it.
    private static func stopOnSignal(_ monitor: SocketEventMonitor, deadline: Int64?) throws {
        _ = try DedicatedThread.startJoinable {
            if let deadline {
                _ = StopSignals.wait(untilMonotonic: deadline)
            } else {
                _ = StopSignals.wait()
            }
            monitor.stop()
        }
    }
}
