import SockDiag
import SystemPackage
import SockScanTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Scans a private namespace holding a known socket mix (plus 400 established pairs, so a full dump spans
/// several 32 KiB batches) and compares with what was made, with `ss`, and with `/proc`.
@Suite("Live sock_diag scans", .liveMix(extraPairs: 400))
struct ScannerLiveTests {
    static let everything = ScanQuery(protocols: .all, families: .all, states: .all)

    /// The most bytes a dump of `stats.records` sockets can take without extensions: a message is a 16-byte
    /// header, the 72-byte `inet_diag_msg` and the attributes every socket gets (shutdown, cgroup id,
    /// socket options: about 40 bytes here; none for TIME_WAIT); each request ends with `NLMSG_DONE`
    /// (20 bytes, more with extended acks). 160 and 64 leave room and still sit far below a full dump.
    static func byteBound(_ stats: ScanStatistics) -> Int { stats.records * 160 + stats.requests * 64 }

    @Test("netlink returns exactly the sockets made, and what ss -tuan shows")
    func netlinkMatchesMixAndSS() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let records = try scanner.records(Self.everything)
        #expect(scanner.source == .netlink)
        let tuples = tupleSet(records)
        expectSame(tuples, fixture.mix.expected, "netlink vs the mix")
        #expect(records.count == fixture.mix.expected.count)

        let ss = try SSOracle(namespace: fixture.namespace.name).tuples(.all)
        #expect(Set(ss).count == ss.count, "ss listed a socket twice")
        expectSame(Set(ss), fixture.mix.expected, "ss -tuanH vs the mix")
        expectSame(tuples, Set(ss), "netlink vs ss -tuanH")

        // Every kind the mix promises is there.
        let tcp = fixture.mix.counts(.tcp)
        #expect(tcp[.listen] == 4)
        #expect(tcp[.timeWait] == 3)
        #expect(tcp[.finWait2] == 2)
        #expect(tcp[.closeWait] == 2)
        #expect(tcp[.established] == 6 + 800)
        #expect(fixture.mix.counts(.udp) == [.close: 3, .established: 1])
    }

    @Test(
        "the test namespace has its own small TCP hash (dumps do not walk the host's table)",
        .enabled(if: access("/proc/sys/net/ipv4/tcp_child_ehash_entries", F_OK) == 0))
    func privateHash() throws {
        let fixture = try LiveFixture.require()
        #expect(fixture.namespace.tcpHashEntries() == TestNamespace.tcpHashBuckets)
    }

    @Test("count() agrees with the records per state")
    func countsPerState() throws {
        let fixture = try LiveFixture.require()
        let counts = try fixture.scanner().count(Self.everything)
        let want = fixture.mix.expected.countsByState()
        for state in TCPState.allCases {
            #expect(counts[state] == UInt64(want[state] ?? 0), "\(state)")
        }
        #expect(counts.total == UInt64(fixture.mix.expected.count))
    }

    @Test("the /proc path gives the same tuples, uids and inodes as netlink")
    func procfsMatchesNetlink() throws {
        let fixture = try LiveFixture.require()
        let netlink = try fixture.scanner().records(Self.everything)
        let procScanner = try fixture.scanner(source: .procfs)
        var stats = ScanStatistics()
        var proc: [SocketRecord] = []
        stats = try procScanner.forEach(Self.everything) { proc.append($0) }
        #expect(stats.procfsFallback == .all)
        expectSame(tupleSet(proc), tupleSet(netlink), "/proc vs netlink")

        // ProcNetReader straight on /proc/thread-self/net, on a thread inside the namespace.
        let direct = try fixture.namespace.run { () throws -> [SocketRecord] in
            var all: [SocketRecord] = []
            let reader = ProcNetReader(directory: "/proc/thread-self/net")
            for proto in TransportProtocol.allCases {
                for family in AddressFamily.allCases { try reader.forEach(proto, family) { all.append($0) } }
            }
            return all
        }
        expectSame(tupleSet(direct), fixture.mix.expected, "ProcNetReader vs the mix")

        struct Owner: Hashable {
            var uid: UInt32
            var inode: UInt32
        }
        let byTuple = Dictionary(
            uniqueKeysWithValues: netlink.map { (SocketTuple($0), Owner(uid: $0.uid, inode: $0.inode)) })
        var mismatches: [String] = []
        for record in proc {
            let tuple = SocketTuple(record)
            let owner = Owner(uid: record.uid, inode: record.inode)
            if byTuple[tuple] != owner {
                mismatches.append("\(tuple): /proc \(owner), netlink \(String(describing: byTuple[tuple]))")
            }
            if record.cookie != 0 { mismatches.append("\(tuple): /proc cannot know a cookie, got \(record.cookie)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10).joined(separator: "\n"))")
        #expect(proc.allSatisfy { $0.uid == getuid() })
    }

    @Test("cookies are unique and non-zero; inodes are the descriptors' for full sockets, 0 for TIME_WAIT")
    func cookiesAndInodes() throws {
        let fixture = try LiveFixture.require()
        let records = try fixture.scanner().records(Self.everything)
        #expect(records.allSatisfy { $0.cookie != 0 })
        #expect(Set(records.map(\.cookie)).count == records.count, "cookies repeat")
        var wrong: [String] = []
        for record in records {
            let tuple = SocketTuple(record)
            if record.state == .timeWait && record.proto == .tcp {
                if record.inode != 0 { wrong.append("\(tuple): TIME_WAIT with inode \(record.inode)") }
            } else if record.inode == 0 || record.inode != fixture.mix.inodes[tuple] {
                wrong.append(
                    "\(tuple): inode \(record.inode), fstat says \(String(describing: fixture.mix.inodes[tuple]))")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(10).joined(separator: "\n"))")
    }

    @Test("a state filter runs in the kernel: TIME_WAIT only, and far fewer bytes than a full dump")
    func timeWaitFilteredInKernel() throws {
        let fixture = try LiveFixture.require()
        for strategy in [TCPDumpStrategy.onePass, .perFamily] {
            let scanner = try fixture.scanner(strategy)
            var full = ScanStatistics()
            full = try scanner.forEach(ScanQuery(protocols: .tcp, states: .all)) { _ in }
            var records: [SocketRecord] = []
            let stats = try scanner.forEach(ScanQuery(protocols: .tcp, states: StateSet(.timeWait))) {
                records.append($0)
            }
            #expect(records.allSatisfy { $0.state == .timeWait }, "\(strategy)")
            expectSame(tupleSet(records), fixture.mix.expected { $0.state == .timeWait }, "TIME_WAIT (\(strategy))")
            #expect(stats.records == 3)
            // Had the kernel sent everything and user space filtered, the bytes would be the full dump's.
            #expect(stats.bytes < full.bytes / 10, "\(strategy): \(stats.bytes) vs full \(full.bytes)")
            #expect(stats.bytes <= Self.byteBound(stats), "\(strategy): \(stats.bytes) bytes")
            #expect(full.records == fixture.mix.expected(.tcp).count)
        }
        let ss = try SSOracle(namespace: fixture.namespace.name).tuples(.tcp, state: .timeWait)
        expectSame(Set(ss), fixture.mix.expected { $0.state == .timeWait }, "ss state time-wait")

        // UDP: the unconnected ones (state close) only.
        let unconnected = try fixture.scanner().records(ScanQuery(protocols: .udp, states: StateSet(.close)))
        expectSame(tupleSet(unconnected), fixture.mix.expected { $0.proto == .udp && $0.state == .close }, "UDP close")
    }

    @Test("one pass and per family give the same TCP sockets, in 1 and 2 requests")
    func onePassAndPerFamilyAgree() throws {
        let fixture = try LiveFixture.require()
        let query = ScanQuery(protocols: .tcp, states: .all)

        let onePass = try fixture.scanner(.onePass)
        var onePassRecords: [SocketRecord] = []
        let onePassStats = try onePass.forEach(query) { onePassRecords.append($0) }
        #expect(onePassStats.usedOnePassTCP)
        #expect(onePassStats.requests == 1)
        #expect(onePass.onePassSupported == true)

        let perFamily = try fixture.scanner(.perFamily)
        var perFamilyRecords: [SocketRecord] = []
        let perFamilyStats = try perFamily.forEach(query) { perFamilyRecords.append($0) }
        #expect(!perFamilyStats.usedOnePassTCP)
        #expect(perFamilyStats.requests == 2)

        let a = tupleSet(onePassRecords)
        expectSame(a, tupleSet(perFamilyRecords), "one pass vs per family")
        expectSame(a, fixture.mix.expected(.tcp), "one pass vs the mix")
        #expect(Set(onePassRecords.map(\.cookie)) == Set(perFamilyRecords.map(\.cookie)))
        // The bulk makes a dump of several 32 KiB batches.
        #expect(onePassStats.batches >= 3, "\(onePassStats.batches) batches")

        let automatic = try fixture.scanner(.automatic)
        let automaticStats = try automatic.forEach(query) { _ in }
        #expect(automaticStats.usedOnePassTCP, "this kernel serves the one-pass request")
    }

    @Test("tcp_info and memory come only when asked for", arguments: [TCPDumpStrategy.onePass, .perFamily])
    func extensions(strategy: TCPDumpStrategy) throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner(strategy)

        let withInfo = try scanner.records(ScanQuery(protocols: .all, states: .all, extensions: .tcpInfo))
        #expect(withInfo.count == fixture.mix.expected.count)
        for record in withInfo where record.proto == .tcp && record.state == .established {
            let info = try #require(record.tcpInfo, "no tcp_info on \(SocketTuple(record))")
            #expect(info.rtt > 0, "\(SocketTuple(record))")
            #expect(info.cwnd > 0, "\(SocketTuple(record))")
            #expect(info.sendMSS > 0)
        }
        #expect(withInfo.allSatisfy { $0.memory == nil })
        #expect(withInfo.filter { $0.state == .timeWait }.allSatisfy { $0.tcpInfo == nil })
        #expect(withInfo.filter { $0.proto == .udp }.allSatisfy { $0.tcpInfo == nil })

        let withMemory = try scanner.records(ScanQuery(protocols: .all, states: .all, extensions: .memory))
        #expect(withMemory.count == fixture.mix.expected.count)
        for record in withMemory where record.state != .timeWait {
            let memory = try #require(record.memory, "no memory on \(SocketTuple(record))")
            #expect(memory.receiveBuffer > 0, "\(SocketTuple(record))")
            #expect(memory.sendBuffer > 0, "\(SocketTuple(record))")
        }
        #expect(withMemory.allSatisfy { $0.tcpInfo == nil })

        let both = try scanner.records(ScanQuery(protocols: .tcp, states: .all, extensions: [.tcpInfo, .memory]))
        #expect(both.filter { $0.state == .established }.allSatisfy { $0.tcpInfo != nil && $0.memory != nil })

        let plain = try scanner.records(ScanQuery(protocols: .all, states: .all))
        #expect(plain.allSatisfy { $0.tcpInfo == nil && $0.memory == nil })
    }

    @Test(
        "an exact local port is filtered in the kernel",
        arguments: [
            SocketMix.tcp4LoopbackPort, SocketMix.tcp4AnyPort, SocketMix.tcp6Port, SocketMix.bulkPort,
            SocketMix.udp4Port, SocketMix.udp4ConnectedPort, SocketMix.udp6Port, SocketMix.udp4AnyPort,
        ])
    func localPortFilter(port: UInt16) throws {
        let fixture = try LiveFixture.require()
        for strategy in [TCPDumpStrategy.onePass, .perFamily] {
            var records: [SocketRecord] = []
            let stats = try fixture.scanner(strategy).forEach(
                ScanQuery(protocols: .all, states: .all, localPort: port)
            ) { records.append($0) }
            let want = fixture.mix.expected { $0.local.port == port }
            #expect(!want.isEmpty)
            expectSame(tupleSet(records), want, "local port \(port) (\(strategy))")
            // Filtered before the messages were built: no more bytes than the matches need.
            #expect(stats.bytes <= Self.byteBound(stats), "\(stats.bytes) bytes")
        }
    }

    @Test(
        "an exact remote port is filtered in the kernel",
        arguments: [
            SocketMix.tcp4LoopbackPort, SocketMix.tcp4AnyPort, SocketMix.tcp6Port, SocketMix.bulkPort,
            SocketMix.udp4Port,
        ])
    func remotePortFilter(port: UInt16) throws {
        let fixture = try LiveFixture.require()
        for strategy in [TCPDumpStrategy.onePass, .perFamily] {
            let records = try fixture.scanner(strategy).records(
                ScanQuery(protocols: .all, states: .all, remotePort: port))
            let want = fixture.mix.expected { $0.remote.port == port }
            #expect(!want.isEmpty)
            expectSame(tupleSet(records), want, "remote port \(port) (\(strategy))")
        }
    }

    struct Stop: Error {}

    @Test(
        "a body that throws mid-dump leaves the scanner usable (the rest is drained)",
        arguments: ["first record", "mid TCP", "in UDP"])
    func throwingBodyDrains(at point: String) throws {
        let fixture = try LiveFixture.require()
        // TCP comes first, then UDP (4 sockets): the last but one record is UDP.
        let count = ["first record": 1, "mid TCP": 500, "in UDP": fixture.mix.expected.count - 1][point]!
        for strategy in [TCPDumpStrategy.onePass, .perFamily] {
            let scanner = try fixture.scanner(strategy)
            var seen = 0
            #expect(throws: Stop.self) {
                try scanner.forEach(Self.everything) { _ in
                    seen += 1
                    if seen == count { throw Stop() }
                }
            }
            #expect(seen == count)
            // Twice: the stream must be in step for the next request and the one after.
            for _ in 0..<2 {
                var records: [SocketRecord] = []
                try scanner.forEach(Self.everything) { records.append($0) }
                expectSame(tupleSet(records), fixture.mix.expected, "after a throw at \(count) (\(strategy))")
            }
        }
    }
}

@Suite("Namespace errors")
struct NamespaceErrorTests {
    @Test("a missing namespace throws NamespaceError naming it")
    func missingNamespace() throws {
        let error = try #require(throws: NamespaceError.self) { try NetworkNamespace("no-such-ns-xyz") }
        #expect(error.errno == .noSuchFileOrDirectory)
        #expect(error.description.contains("no-such-ns-xyz"), "\(error)")
        #expect(throws: NamespaceError.self) { try Scanner(namespace: NetworkNamespace("/run/netns/no-such-ns-xyz")) }
    }

    @Test("a file that is not a namespace is refused when entered")
    func notANamespace() throws {
        let namespace = try NetworkNamespace(path: "/proc/self/status")
        let error = try #require(throws: NamespaceError.self) { try namespace.run { 1 } }
        #expect(error.description.contains("/proc/self/status"), "\(error)")
    }
}
