import SockDiag
import Testing

@testable import SockReport

/// The churn model's arithmetic: byte percentiles, the TIME_WAIT share, the steady state and when the ports
/// run out.
@Suite("Churn model")
struct ChurnModelTests {
    @Test("byte histogram percentiles are within a bucket (12.5%) of the exact ones")
    func percentiles() {
        var histogram = ByteHistogram()
        let values: [UInt64] = (1...1000).map { UInt64($0) * 37 }
        for v in values { histogram.add(v) }
        for fraction in [0.5, 0.9, 0.99] {
            let exact = Double(values[Int((fraction * 1000).rounded(.up)) - 1])
            let estimate = Double(histogram.percentile(fraction)!)
            #expect(abs(estimate - exact) / exact < 0.125, "\(fraction): \(estimate) vs \(exact)")
        }
        #expect(ByteHistogram().percentile(0.5) == nil)
        var small = ByteHistogram()
        small.add(0)
        small.add(3)
        #expect(small.percentile(0.5) == 0)
        #expect(small.percentile(1) == 3)
        #expect(ByteHistogram.bucket(.max) == 195)
    }

    @Test("exhaustion: already full, never, and the crossing of a steady climb")
    func exhaustion() {
        // 100 established, nothing in TIME_WAIT, 10 closes/s held 60 s: 700 in the steady state.
        #expect(
            ChurnReport.secondsToExhaustion(
                notTimeWait: 100, timeWaitExpiries: [], rate: 10, holdSeconds: 60, capacity: 1000) == nil)
        #expect(
            ChurnReport.secondsToExhaustion(
                notTimeWait: 1000, timeWaitExpiries: [], rate: 0, holdSeconds: 60, capacity: 1000) == 0)
        // 400 closes/s into 10,000 ports with 1,000 already held: (10,000 - 1,000) / 400 = 22.5 s.
        let t = ChurnReport.secondsToExhaustion(
            notTimeWait: 1000, timeWaitExpiries: [], rate: 400, holdSeconds: 60, capacity: 10_000)
        #expect(t.map { abs($0 - 22.5) < 0.11 } == true, "\(String(describing: t))")
        // 5,000 TIME_WAIT sockets that leave at 5 s do not decide it: after them, (15,000 - 1,000) / 400 = 35 s.
        let delayed = ChurnReport.secondsToExhaustion(
            notTimeWait: 1000, timeWaitExpiries: Array(repeating: 5000, count: 5000), rate: 400, holdSeconds: 60,
            capacity: 15_000)
        #expect(delayed.map { abs($0 - 35) < 0.11 } == true, "\(String(describing: delayed))")
        // A rate whose steady state fits, with old TIME_WAIT draining: never.
        #expect(
            ChurnReport.secondsToExhaustion(
                notTimeWait: 0, timeWaitExpiries: Array(repeating: 30_000, count: 900), rate: 1, holdSeconds: 60,
                capacity: 1000) == nil)
    }

    static func event(_ local: String, _ port: UInt16, _ remote: String, _ remotePort: UInt16, bytes: UInt64)
        -> SocketEvent
    {
        var info = TCPInfo()
        info.bytesAcked = bytes
        return SocketEvent(
            time: .seconds(0),
            socket: SocketRecord(
                proto: .tcp, family: .inet, state: .close,
                local: Endpoint(address: IPAddress(local)!, port: port),
                remote: Endpoint(address: IPAddress(remote)!, port: remotePort), tcpInfo: info))
    }

    @Test("the tracker keys client sides by destination, leaves server sides out, and measures the TIME_WAIT share")
    func tracker() throws {
        var tracker = ChurnTracker(ephemeralPorts: PortRange(low: 32768, high: 60999))
        var timeWait = Set<SocketPair>()
        for i in 0..<1000 {
            let event = Self.event("10.0.0.1", UInt16(33000 + i), "10.0.0.5", 443, bytes: 500)
            tracker.add(event)
            // Three quarters closed here first: in TIME_WAIT afterwards.
            if i % 4 != 0 { timeWait.insert(SocketPair(local: event.socket.local, remote: event.socket.remote)) }
        }
        tracker.add(Self.event("10.0.0.1", 443, "10.0.0.9", 50000, bytes: 1))  // a server side
        tracker.recordTimeWait(timeWait)
        #expect(tracker.closes == 1000)
        #expect(tracker.otherSockets == 1)
        let key = Destination(
            localAddress: IPAddress("10.0.0.1")!, remoteAddress: IPAddress("10.0.0.5")!,
            remotePort: 443)
        let count = try #require(tracker.destinations[key])
        #expect(count.closes == 1000)
        #expect(count.withBytes == 1000)
        let share = try #require(count.closedHereShare)
        #expect(abs(share - 0.75) < 0.08, "\(share)")
    }

    @Test("the tracker keeps at most maxDestinations apart and sums the rest")
    func bounded() {
        var tracker = ChurnTracker(ephemeralPorts: PortRange(low: 32768, high: 60999), maxDestinations: 10)
        for i in 0..<50 { tracker.add(Self.event("10.0.0.1", 40000, "10.0.1.\(i)", 443, bytes: 1)) }
        #expect(tracker.destinations.count == 10)
        #expect(tracker.closes == 50)
        #expect(tracker.otherCloses == 40)
    }
}
