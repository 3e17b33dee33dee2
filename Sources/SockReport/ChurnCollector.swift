import SockDiag
import Synchronization

/// Counts destroy events per destination on a thread of its own for as long as it runs: the one source of
/// close rates for `churn`, `ports --sample`, `watch`, `record` and the metrics.
///
/// The thread waits on the monitor's socket and adds each event to a ``ChurnTracker`` under a lock; callers
/// read running totals (``totals()``, cheap enough to call every second) and, at the end, the whole tracker
/// (``finish()``).
public final class ChurnCollector: Sendable {
    /// The events counted.
    public let monitor: SocketEventMonitor
    private let shared: Shared
    private let thread: Mutex<DedicatedThread.Joinable?>
    /// Where the client sides are re-read from (``refreshClientSides()``), if anywhere.
    private let clientSidesSource: ClientSidesSource?

    /// Where a long-running collector re-reads what tells client sides apart, and how often: the port range
    /// and the listeners' ports of a namespace change while `record` or `serve` runs.
    ///
    /// A port stays a server port for `retain` after its listener was last seen: a listener that closes (a
    /// restart, a drain) leaves its accepted connections on its port, and their ends are server sides too.
    /// Keeping a port longer than needed only leaves out the closes of clients that `connect()` later gives
    /// that one port.
    public struct ClientSidesSource: Sendable {
        /// How often the counting thread re-reads them (at least 50 ms: the thread wakes that often).
        public var interval: Duration
        /// How long a port stays a server port after its listener was last seen.
        public var retain: Duration
        /// Reads the ephemeral range and the ports of it that listeners hold.
        public var read: @Sendable () throws -> (ephemeralPorts: PortRange, boundPorts: PortBitmap)

        /// A source read every `interval` (at least 50 ms) by `read`, that keeps a listener's port for `retain`.
        public init(
            interval: Duration, retain: Duration = .seconds(600),
            read: @escaping @Sendable () throws -> (ephemeralPorts: PortRange, boundPorts: PortBitmap)
        ) {
            self.interval = max(interval, .milliseconds(50))
            self.retain = retain
            self.read = read
        }
    }

    /// When each port was last seen held by a listener, for ``ClientSidesSource/retain``.
    struct ServerPortMemory: Sendable {
        private var lastSeen: [UInt16: ContinuousClock.Instant] = [:]

        /// Records `current` as held now and returns the ports of `range` held within the last `retain`.
        mutating func update(
            _ current: PortBitmap, range: PortRange, now: ContinuousClock.Instant, retain: Duration
        ) -> PortBitmap {
            for port in current.ports { lastSeen[port] = now }
            lastSeen = lastSeen.filter { now - $0.value <= retain }
            var held = PortBitmap()
            for port in lastSeen.keys where range.contains(port) { held.insert(port) }
            return held
        }
    }

    private struct State: Sendable {
        var tracker: ChurnTracker
        var failure: SockDiagError?
        /// ``finish()`` was called: read what is queued, then end.
        var finishing = false
        var serverPorts = ServerPortMemory()

        /// Takes a reading of the client sides: the range as read, the listeners' ports as remembered.
        mutating func setClientSides(_ read: (ephemeralPorts: PortRange, boundPorts: PortBitmap), retain: Duration) {
            let held = serverPorts.update(
                read.boundPorts, range: read.ephemeralPorts, now: ContinuousClock.now, retain: retain)
            tracker.setClientSides(ephemeralPorts: read.ephemeralPorts, boundPorts: held)
        }
    }

    /// What the counting thread and the callers share.
    private final class Shared: Sendable {
        let state: Mutex<State>
        init(_ state: State) { self.state = Mutex(state) }
    }

    /// Starts counting `monitor`'s events: client sides are those whose local port is in `ephemeralPorts` and
    /// not in `boundPorts` (listeners inside the range); at most `maxDestinations` destinations are kept apart.
    /// With `clientSides`, the counting thread re-reads both every `clientSides.interval` (a failed read keeps
    /// the previous ones), and a listener's port stays a server port for `clientSides.retain`.
    ///
    /// - Throws: ``SockDiagError/unsupported(_:)`` when no thread can be started.
    public init(
        monitor: SocketEventMonitor, ephemeralPorts: PortRange, boundPorts: PortBitmap = PortBitmap(),
        maxDestinations: Int = 10_000, clientSides: ClientSidesSource? = nil
    ) throws(SockDiagError) {
        self.monitor = monitor
        self.clientSidesSource = clientSides
        var state = State(
            tracker: ChurnTracker(
                ephemeralPorts: ephemeralPorts, boundPorts: boundPorts, maxDestinations: maxDestinations))
        if let clientSides { state.setClientSides((ephemeralPorts, boundPorts), retain: clientSides.retain) }
        let shared = Shared(state)
        self.shared = shared
        thread = Mutex(nil)
        let started = try DedicatedThread.startJoinable { [monitor] in
            do {
                // Woken every 50 ms to see whether finish() was called (and whether the client sides are due
                // to be re-read); then whatever the kernel queued before (every socket destroyed until then)
                // is read before the thread ends, bounded in case of a flood.
                let clock = ContinuousClock()
                var refreshed = clock.now
                while !monitor.isStopped && !shared.state.withLock({ $0.finishing }) {
                    try monitor.receive(timeout: .milliseconds(50)) { event in
                        shared.state.withLock { $0.tracker.add(event) }
                    }
                    if let clientSides, clock.now - refreshed >= clientSides.interval {
                        refreshed = clock.now
                        if let read = try? clientSides.read() {
                            shared.state.withLock { $0.setClientSides(read, retain: clientSides.retain) }
                        }
                    }
                }
                for _ in 0..<64 where !monitor.isStopped {
                    let read = try monitor.receive(timeout: .zero) { event in
                        shared.state.withLock { $0.tracker.add(event) }
                    }
                    if read == 0 { break }
                }
            } catch {
                shared.state.withLock { $0.failure = SockDiagError.typed(error) }
            }
        }
        thread.withLock { $0 = started }
    }

    deinit {
        monitor.stop()
        thread.withLock { $0?.join() }
    }

    /// Starts counting `monitor`'s events with the client sides `clientSides` reads now, and again every
    /// ``ClientSidesSource/interval`` (see ``init(monitor:ephemeralPorts:boundPorts:maxDestinations:clientSides:)``).
    ///
    /// - Throws: what the source's `read` throws, or ``SockDiagError/unsupported(_:)`` when no thread can be
    ///   started.
    public convenience init(
        monitor: SocketEventMonitor, clientSides: ClientSidesSource, maxDestinations: Int = 10_000
    ) throws {
        let first = try clientSides.read()
        try self.init(
            monitor: monitor, ephemeralPorts: first.ephemeralPorts, boundPorts: first.boundPorts,
            maxDestinations: maxDestinations, clientSides: clientSides)
    }

    /// Re-reads what tells client sides apart now (the counting thread does it every
    /// ``ClientSidesSource/interval``); nothing without a ``ClientSidesSource``.
    ///
    /// - Throws: what the source's `read` throws; the previous client sides are kept.
    public func refreshClientSides() throws {
        guard let clientSidesSource else { return }
        let read = try clientSidesSource.read()
        shared.state.withLock { $0.setClientSides(read, retain: clientSidesSource.retain) }
    }

    /// The ephemeral range and the listeners' ports in it (those held within the source's `retain`) that tell
    /// client sides apart now.
    public var clientSides: (ephemeralPorts: PortRange, boundPorts: PortBitmap) {
        shared.state.withLock { ($0.tracker.ephemeralPorts, $0.tracker.boundPorts) }
    }

    /// What has been counted so far.
    public func totals() -> ChurnTotals {
        let dropped = monitor.droppedEvents
        return shared.state.withLock { state in
            ChurnTotals(
                closes: state.tracker.closes, otherCloses: state.tracker.otherCloses,
                abortedCloses: state.tracker.abortedCloses,
                byDestination: state.tracker.destinations.mapValues(\.closes), droppedEvents: dropped,
                failure: state.failure)
        }
    }

    /// Stops counting and returns everything counted: every socket destroyed until the call (the events
    /// the kernel queued by then are read first; this takes up to 50 ms).
    ///
    /// - Throws: the error that ended the counting early (a receive error, a malformed message).
    public func finish() throws(SockDiagError) -> ChurnTracker {
        shared.state.withLock { $0.finishing = true }
        thread.withLock {
            $0?.join()
            $0 = nil
        }
        monitor.stop()
        let (tracker, failure) = shared.state.withLock { ($0.tracker, $0.failure) }
        if let failure { throw failure }
        return tracker
    }
}

/// Running totals of a ``ChurnCollector``.
public struct ChurnTotals: Sendable, Equatable {
    /// Client-side TCP connections ended, all destinations.
    public var closes: Int
    /// Of those, closes to destinations beyond the collector's `maxDestinations`.
    public var otherCloses: Int
    /// Client-side connections aborted here, destination unknown (``ChurnTracker/abortedCloses``).
    public var abortedCloses: Int
    /// Closes per destination kept apart.
    public var byDestination: [Destination: Int]
    /// Events the kernel dropped because the receive buffer was full (exact).
    public var droppedEvents: UInt64
    /// The error that stopped the counting, if it stopped.
    public var failure: SockDiagError?

    /// Totals as given.
    public init(
        closes: Int = 0, otherCloses: Int = 0, abortedCloses: Int = 0, byDestination: [Destination: Int] = [:],
        droppedEvents: UInt64 = 0,
        failure: SockDiagError? = nil
    ) {
        self.closes = closes
        self.otherCloses = otherCloses
        self.abortedCloses = abortedCloses
        self.byDestination = byDestination
        self.droppedEvents = droppedEvents
        self.failure = failure
    }
}
