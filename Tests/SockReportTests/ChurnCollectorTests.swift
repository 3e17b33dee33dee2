import SockDiag
import SockReport
import SockScanTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The collector against a generator of known rates: every connection the generator ended is one close of
/// its destination, nothing else is counted as a close, and nothing is dropped.
@Suite("Churn collector", .serialized)
struct ChurnCollectorTests {
    static let fast = Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 7301)
    static let slow = Endpoint(address: .v6(.loopback), port: 7302)
    static let reset = Endpoint(address: .v4(IPv4Address(127, 0, 0, 3)), port: 7303)

    @Test("closes per destination are exactly the connections the generator ended; resets are counted apart")
    func exactCounts() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let monitor = try SocketEventMonitor(namespace: namespace.namespace, protocols: .tcp)
        let collector = try ChurnCollector(monitor: monitor, ephemeralPorts: PortRange(low: 10000, high: 65535))
        let churn = try ConnectionChurn(
            in: namespace,
            destinations: [
                .init(Self.fast, perSecond: 300, close: .clientFirst),
                .init(Self.slow, perSecond: 60, close: .serverFirst),
                .init(Self.reset, perSecond: 40, close: .reset),
            ], held: 3, limit: 600, maxSeconds: 30)
        for _ in 0..<300 where churn.made < 600 { usleep(20_000) }
        let report = churn.stop()
        try #require(report.failure == nil, "\(report)")
        // The last destroy events arrive within a moment of the last close.
        // Each destination's held pair ends at stop() as well, closed by the client first: one close more.
        let expected = report.made[0] + report.made[1] + 3
        for _ in 0..<100 where collector.totals().closes + collector.totals().abortedCloses < expected + report.made[2]
        {
            usleep(20_000)
        }
        let running = collector.totals()
        let tracker = try collector.finish()
        #expect(running.failure == nil)
        #expect(running.droppedEvents == 0)
        // Loopback connections come from 127.0.0.1 (or ::1), whichever 127/8 address they go to.
        func key(_ endpoint: Endpoint) -> Destination {
            let local: IPAddress =
                switch endpoint.address {
                case .v4: .v4(IPv4Address(127, 0, 0, 1))
                case .v6: .v6(.loopback)
                }
            return Destination(localAddress: local, remoteAddress: endpoint.address, remotePort: endpoint.port)
        }
        #expect(tracker.closes == expected, "\(report)")
        #expect(tracker.destinations[key(Self.fast)]?.closes == report.made[0] + 1)
        #expect(tracker.destinations[key(Self.slow)]?.closes == report.made[1] + 1)
        #expect(tracker.destinations[key(Self.reset)]?.closes == 1)
        #expect(tracker.destinations.count == 3)
        #expect(running.byDestination[key(Self.fast)] == report.made[0] + 1)
        // A connection this side resets is reported without its remote port (the kernel's tcp_disconnect
        // clears it): counted apart, its destination unknown.
        #expect(tracker.abortedCloses == report.made[2])
        #expect(running.abortedCloses == report.made[2])
        // The server sides (local port 7301–7303, not ephemeral) and the held pairs' are not closes.
        #expect(tracker.otherSockets >= report.total)
        // After finish, the monitor is stopped and totals stay where they were.
        #expect(monitor.isStopped)
        #expect(collector.totals().closes == tracker.closes)
    }

    /// A listener on 15001 and a range of 10000–20000, both set after the collector started (the kernel's
    /// default range, 32768–60999, holds none of these ports): until the client sides are re-read, a client
    /// close is not counted; re-read without the listener, its accepted sockets would be.
    static let late = Endpoint(address: .v4(IPv4Address(127, 0, 0, 2)), port: 15001)

    @Test("a listener and a port range set after the start count once the client sides are re-read")
    func clientSidesAreReRead() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let collector = try ChurnCollector.start(namespace: namespace.namespace, refresh: .seconds(3600))
        let witness = try Witness(namespace)
        #expect(collector.clientSides.ephemeralPorts == PortRange(low: 32768, high: 60999))
        #expect(collector.clientSides.boundPorts.count == 0)
        let churn = try ConnectionChurn(
            in: namespace, destinations: [.init(Self.late, perSecond: 0)], held: 2, ephemeralPorts: 10000...20000)
        try collector.refreshClientSides()
        #expect(collector.clientSides.ephemeralPorts == PortRange(low: 10000, high: 20000))
        #expect(collector.clientSides.boundPorts.ports == [15001])
        // stop() closes the listener, then each held pair client first: two client closes, two server
        // sides, one listener.
        churn.stop()
        try witness.wait(for: 5)
        let tracker = try collector.finish()
        let destination = Destination(
            localAddress: .v4(IPv4Address(127, 0, 0, 1)), remoteAddress: Self.late.address, remotePort: 15001)
        #expect(tracker.closes == 2)
        #expect(tracker.destinations[destination]?.closes == 2)
        #expect(tracker.otherSockets == 3)
    }

    @Test("a listener's port stays a server port after the listener closes, for the connections it accepted")
    func closedListenersPortIsRemembered() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let fds = try namespace.run { () throws -> [Int32] in
            try Sysctl.set("net/ipv4/ip_local_port_range", to: "10000 20000")
            let listener = try ConnectionChurn.listener(Self.late)
            let (client, server) = try ConnectionChurn.connect(Self.late, listener)
            return [listener, client, server]
        }
        let collector = try ChurnCollector.start(namespace: namespace.namespace, refresh: .seconds(3600))
        let witness = try Witness(namespace)
        #expect(collector.clientSides.boundPorts.ports == [15001])
        close(fds[0])
        try witness.wait(for: 1)
        try collector.refreshClientSides()
        #expect(collector.clientSides.boundPorts.ports == [15001], "the listener is gone; its port is remembered")
        // The accepted side closes first: its end (local port 15001) is a server side, the client's a close.
        close(fds[2])
        close(fds[1])
        try witness.wait(for: 3)
        let tracker = try collector.finish()
        #expect(tracker.closes == 1)
        #expect(tracker.otherSockets == 2)
    }

    @Test("a remembered port is dropped once its listener has been gone for longer than retain")
    func rememberedPortsExpire() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let range = PortRange(low: 10000, high: 20000)
        let held = Mutex(PortBitmap())
        held.withLock { _ = $0.insert(15001) }
        let collector = try ChurnCollector(
            monitor: try SocketEventMonitor(namespace: namespace.namespace, protocols: .tcp), ephemeralPorts: range,
            boundPorts: held.withLock { $0 },
            // 2 s: the first refresh comes within it however loaded the machine (a test thread stalled for
            // 300 ms is not unheard of on two busy cores).
            clientSides: .init(interval: .seconds(3600), retain: .seconds(2)) {
                (range, held.withLock { $0 })
            })
        held.withLock { $0 = PortBitmap() }
        try collector.refreshClientSides()
        #expect(collector.clientSides.boundPorts.ports == [15001])
        usleep(2_100_000)
        try collector.refreshClientSides()
        #expect(collector.clientSides.boundPorts.ports == [])
        _ = try collector.finish()
    }

    /// A second subscriber in the namespace, to wait on: the kernel sends each destroy event to every
    /// subscriber at once, so once the witness has seen an event the collector's socket holds it too (and
    /// ``ChurnCollector/finish()`` reads what is queued).
    final class Witness {
        let monitor: SocketEventMonitor
        var seen = 0

        init(_ namespace: TestNamespace) throws {
            monitor = try SocketEventMonitor(namespace: namespace.namespace, protocols: .tcp)
        }

        /// Waits (at most 10 s) until `count` events have been seen since the start.
        func wait(for count: Int) throws {
            for _ in 0..<200 where seen < count {
                try monitor.receive(timeout: .milliseconds(50)) { _ in self.seen += 1 }
            }
            #expect(seen == count, "destroy events seen")
        }
    }

    @Test("the counting thread re-reads the client sides every interval")
    func clientSidesAreReReadOnTheirOwn() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let collector = try ChurnCollector.start(namespace: namespace.namespace, refresh: .milliseconds(100))
        #expect(collector.clientSides.boundPorts.count == 0)
        let churn = try ConnectionChurn(
            in: namespace, destinations: [.init(Self.late, perSecond: 0)], ephemeralPorts: 10000...20000)
        defer { churn.stop() }
        for _ in 0..<250 where collector.clientSides.boundPorts.count == 0 { usleep(20_000) }
        #expect(collector.clientSides.ephemeralPorts == PortRange(low: 10000, high: 20000))
        #expect(collector.clientSides.boundPorts.ports == [15001])
        _ = try collector.finish()
    }
}
