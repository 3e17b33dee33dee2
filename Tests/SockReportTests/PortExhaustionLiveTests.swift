import Foundation
import SockDiag
import SockFormat
import SockScanTestSupport
import Testing

@testable import SockReport

/// What the kernel really does when a destination runs out of ephemeral ports, in private namespaces
/// (loopback only, `tcp_tw_reuse=0`), compared with the report.
@Suite("Port exhaustion against the kernel", .serialized)
struct PortExhaustionLiveTests {
    static let low: UInt16 = 40000
    static let high: UInt16 = 40039
    static let rangeSize = 40
    /// Destination A's and B's listeners, outside the range.
    static let portA: UInt16 = 7501
    static let portB: UInt16 = 7502

    /// A namespace with the range narrowed to 40 ports, and a load inside it; both torn down after `body`.
    func withNarrowRange(_ body: (TestNamespace, PortLoad) throws -> Void) throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let load = PortLoad(in: namespace)
        defer { load.close() }
        try load.sysctl("net/ipv4/ip_local_port_range", "\(Self.low) \(Self.high)")
        try body(namespace, load)
    }

    /// Analyses the namespace until `settled` holds (the states move on loopback within milliseconds),
    /// at most 3 s, and returns the last report.
    func report(_ namespace: TestNamespace, until settled: (PortReport) -> Bool = { _ in true }) throws
        -> PortReport
    {
        let scanner = try Scanner(namespace: namespace.namespace, allowProcFallback: false)
        let deadline = Date().addingTimeInterval(3)
        var report = try PortExhaustion.analyze(scanner: scanner)
        while !settled(report) && Date() < deadline {
            usleep(20_000)
            report = try PortExhaustion.analyze(scanner: scanner)
        }
        return report
    }

    static let destinationA = Destination(
        localAddress: IPAddress("127.0.0.1")!, remoteAddress: IPAddress("127.0.0.1")!, remotePort: portA)
    static let destinationB = Destination(
        localAddress: IPAddress("127.0.0.1")!, remoteAddress: IPAddress("127.0.0.2")!, remotePort: portB)

    @Test func exhaustedDestinationIsFullAndOthersAreNot() throws {
        try withNarrowRange { namespace, load in
            let a = try load.listener("127.0.0.1", Self.portA)
            let b = try load.listener("127.0.0.2", Self.portB)
            let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
            // The kernel's own verdict: every port of the range went to A.
            #expect(pairs.count == Self.rangeSize)
            let timeWait: UInt64 = 15
            for pair in pairs.prefix(Int(timeWait)) { try load.closeClientFirst(pair) }
            // TIME_WAIT still holds the ports (tcp_tw_reuse=0): A stays full.
            #expect(try load.connect("127.0.0.1", Self.portA, listener: a.fd) == nil)
            // Another destination has the whole range to itself.
            for _ in 0..<5 { #expect(try load.connect("127.0.0.2", Self.portB, listener: b.fd) != nil) }

            let report = try report(namespace) {
                $0.destinations.first?.states[.timeWait] == timeWait
            }
            #expect(report.settings.range == PortRange(low: Self.low, high: Self.high))
            #expect(report.settings.tcpTWReuse == 0)
            #expect(report.capacity == Self.rangeSize)
            #expect(report.destinations.count == 2)
            let first = try #require(report.destinations.first)
            #expect(first.destination == Self.destinationA)
            #expect(first.used == first.capacity)
            #expect(first.used == pairs.count)
            #expect(first.states[.timeWait] == timeWait)
            #expect(first.states[.established] == UInt64(Self.rangeSize) - timeWait)
            let second = try #require(report.destinations.last)
            #expect(second.destination == Self.destinationB)
            #expect(second.used == 5)
            #expect(second.states[.established] == 5)
            #expect(report.verdict == .critical)
            #expect(
                PortReportFormatter.advice(report).first?.hasPrefix("Reuse connections to 127.0.0.1:\(Self.portA)")
                    == true)
            #expect(PortReportFormatter.advice(report).contains { $0.contains("tcp_tw_reuse=1 (now 0)") })
            // The CLI on the same namespace: PortsCommandTests.

            // The kernel filters the range: the server ends (local port 7501, 7502) never cross over.
            let scanner = try Scanner(namespace: namespace.namespace, allowProcFallback: false)
            let stats = try scanner.forEach(PortExhaustion.connectionQuery(range: report.settings.range)) { _ in }
            #expect(stats.records == Self.rangeSize + 5)
            let listeners = try scanner.forEach(PortExhaustion.bindingQuery(range: report.settings.range)) { _ in }
            #expect(listeners.records == 0)
        }
    }

    @Test func agedTimeWaitIsReusableOnLoopbackWithTheDefaultReuse() throws {
        try withNarrowRange { namespace, load in
            try load.sysctl("net/ipv4/tcp_tw_reuse", "2")  // the kernel default: loopback only
            let a = try load.listener("127.0.0.1", Self.portA)
            let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
            #expect(pairs.count == Self.rangeSize)
            for pair in pairs.prefix(15) { try load.closeClientFirst(pair) }
            // Fresh TIME_WAIT sockets are not reusable yet: still full.
            #expect(try load.connect("127.0.0.1", Self.portA, listener: a.fd) == nil)
            let fresh = try report(namespace) { $0.destinations.first?.states[.timeWait] == 15 }
            #expect(fresh.destinations.first?.reusableTimeWait == 0)
            #expect(fresh.verdict == .critical)
            // Once older than tcp_tw_reuse_delay (1 s), the report counts them reusable…
            usleep(1_300_000)
            let aged = try report(namespace) { $0.destinations.first?.reusableTimeWait == 15 }
            let top = try #require(aged.destinations.first)
            #expect(top.used == Self.rangeSize)
            #expect(top.reusableTimeWait == 15)
            #expect(top.blocking == Self.rangeSize - 15)
            #expect(aged.verdict == .ok)  // 25 of 40 = 62.5%
            // …and the kernel agrees: exactly that many more connections succeed.
            var more = 0
            for _ in 0..<30 {
                guard try load.connect("127.0.0.1", Self.portA, listener: a.fd) != nil else { break }
                more += 1
            }
            #expect(more == 15)
        }
    }

    @Test func reservedPortsShrinkCapacity() throws {
        try withNarrowRange { namespace, load in
            try load.sysctl("net/ipv4/ip_local_reserved_ports", "39990-40004,40030")
            let a = try load.listener("127.0.0.1", Self.portA)
            let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
            #expect(pairs.count == Self.rangeSize - 6)
            let report = try report(namespace) { $0.destinations.first?.used == pairs.count }
            #expect(report.reserved == 6)
            #expect(report.capacity == Self.rangeSize - 6)
            #expect(report.destinations.first?.used == pairs.count)
            #expect(report.destinations.first?.utilization == 1)
            #expect(report.verdict == .critical)
        }
    }

    @Test func explicitBindsShrinkCapacityButUDPDoesNot() throws {
        try withNarrowRange { namespace, load in
            // A listener inside the range, and a server's accepted connection on it (not an ephemeral port).
            let inside = try load.listener("127.0.0.1", Self.low + 5)
            let served = try #require(try load.connect("127.0.0.1", Self.low + 5, listener: inside.fd))
            // A UDP socket inside the range: UDP has its own port table.
            _ = try load.udp("127.0.0.1", Self.low + 20)
            let a = try load.listener("127.0.0.1", Self.portA)
            let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
            // The served connection's client end took one port to destination low+5, not to A.
            #expect(pairs.count == Self.rangeSize - 1)

            let report = try report(namespace) { $0.destinations.first?.used == pairs.count }
            #expect(report.boundPorts == [Self.low + 5])
            #expect(report.capacity == Self.rangeSize - 1)
            #expect(report.destinations.first?.destination == Self.destinationA)
            #expect(report.destinations.first?.used == Self.rangeSize - 1)
            // The client end of the served connection is one destination of its own; the server end
            // (local port low+5, bound) is not counted anywhere.
            #expect(report.destinations.count == 2)
            #expect(report.destinations.last?.used == 1)
            #expect(report.destinations.last?.destination.remotePort == Self.low + 5)
            #expect(report.udp.sockets == 1)
            #expect(report.udp.ports == 1)
            #expect(report.udp.capacity == Self.rangeSize)
            load.closeOne(served.client)
        }
    }

    @Test func boundClientShrinksCapacityForEveryDestination() throws {
        try withNarrowRange { namespace, load in
            // bind() to a port inside the range, then connect() to A: that port is gone for B too.
            let a = try load.listener("127.0.0.1", Self.portA)
            _ = try load.boundConnect("127.0.0.1", Self.low + 12, to: "127.0.0.1", Self.portA, listener: a.fd)
            let b = try load.listener("127.0.0.2", Self.portB)
            let pairs = try load.exhaust("127.0.0.2", Self.portB, listener: b.fd)
            #expect(pairs.count == Self.rangeSize - 1)
            let report = try report(namespace) { $0.destinations.first?.used == pairs.count }
            #expect(report.boundPorts == [Self.low + 12])
            #expect(report.capacity == pairs.count)
            #expect(report.destinations.first?.destination == Self.destinationB)
            #expect(report.destinations.first?.utilization == 1)
            // The bound client is not an ephemeral port of A's.
            #expect(!report.destinations.contains { $0.destination == Self.destinationA })
        }
    }

    @Test func boundIdleSocketShrinksCapacity() throws {
        try withNarrowRange { namespace, load in
            _ = try load.boundTCP("127.0.0.1", Self.low + 30)
            let a = try load.listener("127.0.0.1", Self.portA)
            let pairs = try load.exhaust("127.0.0.1", Self.portA, listener: a.fd)
            #expect(pairs.count == Self.rangeSize - 1)
            let report = try report(namespace) { $0.destinations.first?.used == pairs.count }
            // Seen through TCP_BOUND_INACTIVE (Linux 6.5+); older kernels cannot show it.
            #expect(report.boundPorts == [Self.low + 30])
            #expect(report.capacity == pairs.count)
            #expect(report.destinations.first?.utilization == 1)
        }
    }

    @Test func dualStackSocketsShareTheIPv4Destination() throws {
        try withNarrowRange { namespace, load in
            let a = try load.listener("127.0.0.1", Self.portA)
            for _ in 0..<10 { #expect(try load.connect("127.0.0.1", Self.portA, listener: a.fd) != nil) }
            // IPv6 sockets to ::ffff:127.0.0.1 compete for the same 4-tuples as the IPv4 ones.
            let mapped = try load.exhaust("::ffff:127.0.0.1", Self.portA, listener: a.fd)
            #expect(mapped.count == Self.rangeSize - 10)
            // A native IPv6 destination has its own range.
            let six = try load.listener("::1", Self.portB)
            for _ in 0..<3 { #expect(try load.connect("::1", Self.portB, listener: six.fd) != nil) }

            let report = try report(namespace) { $0.destinations.count == 2 }
            #expect(report.destinations.first?.destination == Self.destinationA)
            #expect(report.destinations.first?.used == Self.rangeSize)
            #expect(report.destinations.last?.destination.remoteAddress == IPAddress("::1"))
            #expect(report.destinations.last?.used == 3)
        }
    }

    @Test func emptyNamespaceIsOk() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let report = try report(namespace)
        #expect(report.destinations.isEmpty)
        #expect(report.udp.sockets == 0)
        #expect(report.bound == 0)
        #expect(report.capacity == report.settings.range.count - report.reserved)
        #expect(report.verdict == .ok)
        #expect(PortReportFormatter.advice(report).isEmpty)
    }

}
