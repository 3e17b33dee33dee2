import CNetlink
import Foundation
import SockScanTestSupport
import Testing

@_spi(Benchmarks) @testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Seeded fuzzing of the byte and text parsers, checking properties rather than only "no trap":
///
/// - netlink dumps: every truncated prefix of a valid dump throws a ``DumpParseError`` whose offset lies
///   inside the input; a mutated dump gives exactly what an independent walker written from the kernel's
///   rules gives (the same records, or the same error at the same offset); a record survives the round
///   trip through its kernel layout; counting (`messageState`) agrees with `parseMessage` on every input.
/// - `/proc/net/{tcp,udp}{,6}` lines: a record written the way the kernel prints it parses back to itself;
///   a mutated line parses to the values an independent decoder reads from it, or both refuse it, and
///   the refusal names the file and the line.
/// - `sockstat`: the same round trip and differential check.
///
/// The short run here takes seconds with fixed seeds. The long run (see docs/FUZZING.md) sets
/// `SOCKSCAN_FUZZ_SECONDS` (time per property) and `SOCKSCAN_FUZZ_SEED`:
/// `SOCKSCAN_FUZZ_SECONDS=600 SOCKSCAN_FUZZ_SEED=$RANDOM swift test --filter ParserPropertyTests`.
/// A failure prints the seed and case number that make it again.
@Suite("Parser properties (seeded fuzzing)")
struct ParserPropertyTests {
    // MARK: budget

    /// Cases per property: `count` in the short run; as many as fit in `SOCKSCAN_FUZZ_SECONDS` in the long one.
    static func cases(_ count: Int, _ body: (_ rng: inout SplitMix64, _ label: String) throws -> Void) rethrows {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SOCKSCAN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F022
        let seconds = environment["SOCKSCAN_FUZZ_SECONDS"].flatMap { Double($0) }
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        // Bounded in the long run too: at most a billion cases.
        for n in 0..<(deadline == nil ? count : 1_000_000_000) {
            if let deadline, n % 256 == 0, Date() >= deadline { break }
            // One generator per case: a failure is made again from (seed, case) alone.
            var rng = SplitMix64(seed: seed &+ UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
            try body(&rng, "seed \(seed) case \(n)")
        }
    }

    // MARK: netlink dumps

    /// A random inet_diag_msg of `family` (2 or 10), with random attributes the parser knows and some it
    /// does not.
    static func randomMessage(_ rng: inout SplitMix64) -> DiagMessage {
        let family: UInt8 = Bool.random(using: &rng) ? 2 : 10
        let width = family == 2 ? 4 : 16
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        var m = DiagMessage(
            family: family, state: UInt8.random(in: 0...12, using: &rng), timer: UInt8.random(in: 0...5, using: &rng),
            retransmits: .random(in: 0...255, using: &rng), sourcePort: .random(in: 0...65535, using: &rng),
            destinationPort: .random(in: 0...65535, using: &rng), source: bytes(width), destination: bytes(width),
            interface: .random(in: 0...UInt32.max, using: &rng), cookieLow: .random(in: 0...UInt32.max, using: &rng),
            cookieHigh: .random(in: 0...UInt32.max, using: &rng), expires: .random(in: 0...UInt32.max, using: &rng),
            receiveQueue: .random(in: 0...UInt32.max, using: &rng), sendQueue: .random(in: 0...UInt32.max, using: &rng),
            uid: .random(in: 0...UInt32.max, using: &rng), inode: .random(in: 0...UInt32.max, using: &rng))
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            switch Int.random(in: 0...5, using: &rng) {
            case 0: m.attributes.append(attribute(type: 2, tcpInfoBytes(size: .random(in: 0...232, using: &rng))))
            case 1: m.attributes.append(attribute(type: 7, memInfoBytes(count: .random(in: 0...9, using: &rng))))
            case 2: m.attributes.append(attribute(type: 11, [UInt8.random(in: 0...1, using: &rng)]))
            case 3:  // INET_DIAG_PROTOCOL: TCP, UDP, or another (SCTP: the message is not ours)
                m.attributes.append(attribute(type: 10, [[6, 17, 132].randomElement(using: &rng)!]))
            default:
                m.attributes.append(
                    attribute(type: .random(in: 0...40, using: &rng), bytes(.random(in: 0...24, using: &rng))))
            }
        }
        return m
    }

    /// A valid dump of 0–5 messages (a NOOP now and then), ending with NLMSG_DONE.
    static func randomDump(_ rng: inout SplitMix64) -> (bytes: [UInt8], messages: [DiagMessage]) {
        var bytes: [UInt8] = []
        var messages: [DiagMessage] = []
        for _ in 0..<Int.random(in: 0...5, using: &rng) {
            if Int.random(in: 0..<8, using: &rng) == 0 { bytes += netlinkMessage(type: Netlink.noop, payload: []) }
            let m = randomMessage(&rng)
            messages.append(m)
            bytes += m.message()
        }
        return (bytes + doneMessage(), messages)
    }

    /// What a dump walk ends with: records and a clean end, an errno, or a parse error.
    enum Outcome: Equatable, CustomStringConvertible {
        case records([SocketRecord])
        case errno(Int32, after: [SocketRecord])
        case parseError(DumpParseError, after: [SocketRecord])

        var description: String {
            switch self {
            case .records(let r): "\(r.count) records"
            case .errno(let e, let r): "errno \(e) after \(r.count) records"
            case .parseError(let e, let r): "\(e) after \(r.count) records"
            }
        }
    }

    /// `InetDiagDump.parse` on `bytes` placed against an inaccessible page.
    static func walk(_ bytes: [UInt8], proto: TransportProtocol) -> Outcome {
        var records: [SocketRecord] = []
        do {
            _ = try withGuardedBytes(bytes) {
                try InetDiagDump.parse($0, sequence: Netlink.sequence, portID: Netlink.portID, proto: proto) {
                    records.append($0)
                }
            }
            return .records(records)
        } catch let error as DumpParseError {
            return .parseError(error, after: records)
        } catch let error as NetlinkError {
            return .errno(error.errno.rawValue, after: records)
        } catch {
            return .errno(-1, after: records)
        }
    }

    /// The walk written again from the rules (netlink(7), inet_diag.h), independently of cnetlink.c and
    /// InetDiagDump: header checks, NOOP/ERROR/DONE/OVERRUN, control types skipped, data messages of the
    /// two inet_diag reply types, the fixed struct, then attributes.
    static func referenceWalk(_ b: [UInt8], proto: TransportProtocol) -> Outcome {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) } }
        func be16(_ o: Int) -> UInt16 { UInt16(b[o]) << 8 | UInt16(b[o + 1]) }
        var records: [SocketRecord] = []
        var at = 0
        while true {
            guard at < b.count else { return .parseError(.unterminated(offset: b.count), after: records) }
            let rem = b.count - at
            guard rem >= 16 else {
                return .parseError(.truncated(offset: at, needed: 16, available: rem), after: records)
            }
            let length = Int(u32(at))
            guard length >= 16, length <= rem else {
                return .parseError(.truncated(offset: at, needed: max(length, 16), available: rem), after: records)
            }
            let type = u16(at + 4)
            let pid = u32(at + 12)
            guard u32(at + 8) == Netlink.sequence, pid == 0 || pid == Netlink.portID else {
                return .parseError(.foreignMessage(offset: at), after: records)
            }
            let next = min(at + (length + 3) / 4 * 4, b.count)
            func int32(_ o: Int) -> Int32 { Int32(bitPattern: u32(o)) }
            // -error, with INT32_MIN (which has no negation) reported as the largest errno.
            func errno(_ error: Int32) -> Int32 { error == .min ? .max : -error }
            switch type {
            case 1:  // NLMSG_NOOP
                at = next
                continue
            case 2:  // NLMSG_ERROR
                guard length >= 20 else {
                    return .parseError(.truncated(offset: at, needed: 20, available: rem), after: records)
                }
                return int32(at + 16) < 0 ? .errno(errno(int32(at + 16)), after: records) : .records(records)
            case 3:  // NLMSG_DONE
                let error = length >= 20 ? int32(at + 16) : 0
                return error < 0 ? .errno(errno(error), after: records) : .records(records)
            case 4:  // NLMSG_OVERRUN
                return .errno(ENOBUFS, after: records)
            case ..<16:  // other control messages
                at = next
                continue
            case 18, 20:
                break
            default:
                return .parseError(.unexpectedType(offset: at, type: UInt16(type)), after: records)
            }
            let start = at + 16
            let end = at + length
            guard length - 16 >= 72 else {
                return .parseError(.truncated(offset: start, needed: 72, available: length - 16), after: records)
            }
            let familyByte = b[start]
            guard familyByte == 2 || familyByte == 10 else {
                at = next  // another family: skipped whole
                continue
            }
            func address(_ o: Int) -> IPAddress {
                if familyByte == 2 { return .v4(IPv4Address(b[o], b[o + 1], b[o + 2], b[o + 3])) }
                let bytes = Array(b[o..<(o + 16)])
                return .v6(bytes.withUnsafeBytes { IPv6Address(networkBytes: $0) })
            }
            var r = SocketRecord(
                proto: proto, family: familyByte == 2 ? .inet : .inet6, state: TCPState(rawValue: b[start + 1]),
                local: Endpoint(address: address(start + 8), port: be16(start + 4)),
                remote: Endpoint(address: address(start + 24), port: be16(start + 6)),
                receiveQueue: u32(start + 56), sendQueue: u32(start + 60), uid: u32(start + 64),
                inode: u32(start + 68), cookie: UInt64(u32(start + 48)) << 32 | UInt64(u32(start + 44)),
                interfaceIndex: u32(start + 40),
                timer: SocketTimer(
                    kind: SocketTimerKind(rawValue: b[start + 2]) ?? .unknown, expiresMilliseconds: u32(start + 52),
                    retransmits: b[start + 3]))
            // Attributes, in order: INET_DIAG_PROTOCOL sets the protocol (before a later INET_DIAG_INFO is
            // read by it) or, naming another one, skips the message unread from there.
            var skipped = false
            var a = start + 72
            while a < end {
                let left = end - a
                guard left >= 4 else {
                    return .parseError(.truncated(offset: a, needed: 4, available: left), after: records)
                }
                let length = Int(b[a]) | Int(b[a + 1]) << 8
                guard length >= 4, length <= left else {
                    return .parseError(.truncated(offset: a, needed: max(length, 4), available: left), after: records)
                }
                let type = (Int(b[a + 2]) | Int(b[a + 3]) << 8) & 0x3FFF
                let body = Array(b[(a + 4)..<(a + length)])
                switch type {
                case 2 where r.proto == .tcp: r.tcpInfo = body.withUnsafeBytes { InetDiagDump.parseTCPInfo($0) }
                case 7: r.memory = body.withUnsafeBytes { InetDiagDump.parseMemory($0) }  // INET_DIAG_SKMEMINFO
                case 11 where !body.isEmpty: r.v6Only = body[0] != 0  // INET_DIAG_SKV6ONLY
                case 10 where !body.isEmpty:  // INET_DIAG_PROTOCOL
                    if body[0] == 6 {
                        r.proto = .tcp
                    } else if body[0] == 17 {
                        r.proto = .udp
                    } else {
                        skipped = true
                    }
                default: break
                }
                if skipped { break }
                a += (length + 3) / 4 * 4
            }
            if skipped {
                at = next
                continue
            }
            records.append(r)
            at = next
        }
    }

    /// Every prefix of random valid dumps throws a DumpParseError whose offset lies inside the input (the
    /// end of the input for a dump cut between messages), delivering only records of the full dump, in order.
    @Test func everyTruncatedPrefixThrowsInsideTheInput() {
        Self.cases(40) { rng, label in
            let (full, messages) = Self.randomDump(&rng)
            guard case .records(let all) = Self.walk(full, proto: .tcp) else {
                Issue.record("\(label): the valid dump failed: \(Self.walk(full, proto: .tcp))")
                return
            }
            // One record per message, but those of another protocol (an INET_DIAG_PROTOCOL not TCP or UDP).
            let foreign = messages.filter {
                $0.attributes.contains {
                    $0[2] == 10 && $0[3] == 0 && $0.count > 4 && $0[0] > 4 && ![6, 17].contains($0[4])
                }
            }.count
            #expect(all.count == messages.count - foreign, "\(label)")
            for n in 0..<full.count {
                let outcome = Self.walk(Array(full.prefix(n)), proto: .tcp)
                guard case .parseError(let error, let records) = outcome else {
                    Issue.record("\(label): prefix of \(n) bytes: \(outcome)")
                    continue
                }
                #expect(records == Array(all.prefix(records.count)), "\(label): prefix of \(n)")
                switch error {
                case .truncated(let offset, let needed, let available):
                    #expect(offset >= 0 && offset < n, "\(label): prefix of \(n): \(error)")
                    #expect(needed > available && offset + available <= n, "\(label): prefix of \(n): \(error)")
                case .unterminated(let offset):
                    #expect(offset == n, "\(label): prefix of \(n): \(error)")
                default:
                    Issue.record("\(label): prefix of \(n): \(error)")
                }
            }
        }
    }

    /// A record written in kernel layout parses back to itself.
    @Test func messageRoundTrip() throws {
        try Self.cases(2000) { rng, label in
            var m = Self.randomMessage(&rng)
            m.attributes = []
            let proto: TransportProtocol = Bool.random(using: &rng) ? .tcp : .udp
            let record = try m.bytes.withUnsafeBytes { try InetDiagDump.parseMessage($0, proto: proto) }
            let width = m.family == 2 ? 4 : 16
            func address(_ bytes: [UInt8]) -> IPAddress {
                width == 4
                    ? .v4(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))
                    : .v6(bytes.withUnsafeBytes { IPv6Address(networkBytes: $0) })
            }
            let expected = SocketRecord(
                proto: proto, family: width == 4 ? .inet : .inet6, state: TCPState(rawValue: m.state),
                local: Endpoint(address: address(m.source), port: m.sourcePort),
                remote: Endpoint(address: address(m.destination), port: m.destinationPort),
                receiveQueue: m.receiveQueue, sendQueue: m.sendQueue, uid: m.uid, inode: m.inode,
                cookie: UInt64(m.cookieHigh) << 32 | UInt64(m.cookieLow), interfaceIndex: m.interface,
                timer: SocketTimer(
                    kind: SocketTimerKind(rawValue: m.timer) ?? .unknown, expiresMilliseconds: m.expires,
                    retransmits: m.retransmits))
            #expect(record == expected, "\(label)")
        }
    }

    /// One random change of a valid dump: a byte, a length field, an inserted or deleted run, a cut.
    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) where !b.isEmpty {
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[i] = .random(in: 0...255, using: &rng)
            case 1:  // a 16- or 32-bit length-like value at an aligned place
                let at = i & ~3
                let value: UInt32 = [
                    0, 1, 3, 4, 15, 16, 19, 20, 71, 72, 88, 0xFFFF, 0x8000_0000, UInt32.max,
                ].randomElement(using: &rng)!
                for k in 0..<4 where at + k < b.count {
                    b[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k)))
                }
            case 2:
                b.insert(
                    contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in
                        UInt8.random(in: 0...255, using: &rng)
                    }, at: i)
            case 3: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...8, using: &rng)))
            case 4: b = Array(b.prefix(i))
            default: b[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
            }
        }
        return b
    }

    /// A mutated dump gives exactly what the reference walker gives: the same records, errno or parse error.
    @Test func mutatedDumpMatchesTheReferenceWalker() {
        Self.cases(3000) { rng, label in
            let (full, _) = Self.randomDump(&rng)
            let bytes = Self.mutate(full, &rng)
            let proto: TransportProtocol = Bool.random(using: &rng) ? .tcp : .udp
            let actual = Self.walk(bytes, proto: proto)
            let expected = Self.referenceWalk(bytes, proto: proto)
            #expect(actual == expected, "\(label): \(bytes.count) bytes \(Self.hex(bytes))")
            if case .parseError(let error, _) = actual {
                let offset: Int
                switch error {
                case .truncated(let o, _, _), .foreignMessage(let o), .unterminated(let o), .unexpectedType(let o, _):
                    offset = o
                }
                #expect(offset >= 0 && offset <= bytes.count, "\(label): \(error)")
            }
        }
    }

    /// Counting reads only the state, but checks each message exactly as parsing does.
    @Test func countingAgreesWithParsing() {
        Self.cases(3000) { rng, label in
            let payload = Self.mutate(Self.randomMessage(&rng).bytes, &rng)
            withGuardedBytes(payload) { b in
                let parsed = Result { () throws(DumpParseError) -> SocketRecord? in
                    try InetDiagDump.parseMessage(b, proto: .tcp, offset: 16)
                }
                let state = Result { () throws(DumpParseError) -> TCPState? in
                    try InetDiagDump.messageState(b, offset: 16)
                }
                switch (parsed, state) {
                case (.success(let r), .success(let s)): #expect(r?.state == s, "\(label)")
                case (.failure(let e1), .failure(let e2)): #expect(e1 == e2, "\(label)")
                default: Issue.record("\(label): parse \(parsed), count \(state)")
                }
            }
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.prefix(512).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: /proc/net lines

    /// A record with the values a /proc/net line can carry (no cookie, interface, tcp_info).
    static func randomProcRecord(_ rng: inout SplitMix64, proto: TransportProtocol, family: AddressFamily)
        -> (SocketRecord, when: UInt64)
    {
        func address() -> IPAddress {
            family == .inet
                ? .v4(IPv4Address(.random(in: 0...UInt32.max, using: &rng)))
                : .v6(
                    IPv6Address(
                        high: .random(in: 0...UInt64.max, using: &rng), low: .random(in: 0...UInt64.max, using: &rng)))
        }
        // Ticks: mostly small, sometimes up to 16 hex digits (saturating at UInt32.max milliseconds).
        let when: UInt64 =
            Bool.random(using: &rng) ? .random(in: 0...100_000, using: &rng) : .random(in: 0...UInt64.max, using: &rng)
        let (ms, overflow) = when.multipliedReportingOverflow(by: 10)
        let kind = UInt8.random(in: 0...4, using: &rng)
        let record = SocketRecord(
            proto: proto, family: family, state: TCPState(rawValue: .random(in: 1...12, using: &rng)),
            local: Endpoint(address: address(), port: .random(in: 0...65535, using: &rng)),
            remote: Endpoint(address: address(), port: .random(in: 0...65535, using: &rng)),
            receiveQueue: .random(in: 0...UInt32.max, using: &rng), sendQueue: .random(in: 0...UInt32.max, using: &rng),
            uid: .random(in: 0...UInt32.max, using: &rng), inode: .random(in: 0...UInt32.max, using: &rng),
            timer: SocketTimer(
                kind: SocketTimerKind(rawValue: kind) ?? .unknown,
                expiresMilliseconds: overflow ? .max : UInt32(clamping: ms),
                retransmits: .random(in: 0...255, using: &rng)))
        return (record, when)
    }

    /// `record` printed as `tcp4_seq_show`/`tcp6_seq_show`/`udp4_format_sock` print it: addresses as the hex
    /// of in-memory 32-bit words, `%04X` ports, `%08X:%08X` queues, `%02X:%08lX` timer, `%5u` uid, `%lu` inode.
    static func procLine(_ r: SocketRecord, when: UInt64, slot: Int) -> String {
        func hex<T: BinaryInteger>(_ v: T, _ width: Int) -> String {
            let s = String(v, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        func words(_ a: IPAddress) -> String {
            var bytes: [UInt8]
            switch a {
            case .v4(let v4): bytes = withUnsafeBytes(of: v4.value.bigEndian) { Array($0) }
            case .v6(let v6):
                bytes =
                    withUnsafeBytes(of: v6.high.bigEndian) { Array($0) }
                    + withUnsafeBytes(of: v6.low.bigEndian) { Array($0) }
            }
            // Each 4 bytes in network order, read as the CPU's u32, printed %08X.
            return stride(from: 0, to: bytes.count, by: 4).map { i in
                hex(bytes[i..<(i + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }, 8)
            }.joined()
        }
        let slotText = String(slot)
        return String(repeating: " ", count: max(0, 4 - slotText.count)) + slotText + ": "
            + "\(words(r.local.address)):\(hex(r.local.port, 4)) \(words(r.remote.address)):\(hex(r.remote.port, 4)) "
            + "\(hex(r.state.rawValue, 2)) \(hex(r.sendQueue, 8)):\(hex(r.receiveQueue, 8)) "
            + "\(hex(r.timer.kind.rawValue, 2)):\(hex(when, 8)) \(hex(r.timer.retransmits, 8)) "
            + "\(String(repeating: " ", count: max(0, 5 - String(r.uid).count)))\(r.uid)        0 \(r.inode) 1 0000000000000000 20 4 30 10 -1"
    }

    /// The line read again from the format, independently of `ProcNetReader`'s cursor: fields split on
    /// runs of spaces; each value must be all digits of its base and fit its field; `:` separates where
    /// the kernel prints one. `nil` for a line that does not follow the format.
    static func referenceParse(_ line: String, proto: TransportProtocol, family: AddressFamily) -> SocketRecord? {
        let f = line.split(separator: " ", omittingEmptySubsequences: true)
        guard f.count >= 10 else { return nil }
        func hex(_ s: Substring, max: UInt64) -> UInt64? {
            guard !s.isEmpty, s.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return nil }
            let digits = s.drop { $0 == "0" }
            guard digits.count <= 16, let v = UInt64(digits.isEmpty ? "0" : digits, radix: 16), v <= max else {
                return nil
            }
            return v
        }
        func dec(_ s: Substring) -> UInt32? {
            guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            let digits = s.drop { $0 == "0" }
            return digits.isEmpty ? 0 : (digits.count <= 10 ? UInt32(digits) : nil)
        }
        func pair(_ s: Substring) -> (Substring, Substring)? {
            let parts = s.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 2 ? (parts[0], parts[1]) : nil
        }
        func endpoint(_ s: Substring) -> Endpoint? {
            guard let (a, p) = pair(s), let port = hex(p, max: 0xFFFF) else { return nil }
            let width = family == .inet ? 8 : 32
            guard a.count == width, a.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return nil }
            var bytes: [UInt8] = []
            var i = a.startIndex
            while i < a.endIndex {
                let j = a.index(i, offsetBy: 8)
                let word = UInt32(a[i..<j], radix: 16)!
                bytes += withUnsafeBytes(of: word) { Array($0) }  // in memory, as the kernel printed it
                i = j
            }
            let address: IPAddress =
                family == .inet
                ? .v4(IPv4Address(bytes[0], bytes[1], bytes[2], bytes[3]))
                : .v6(bytes.withUnsafeBytes { IPv6Address(networkBytes: $0) })
            return Endpoint(address: address, port: UInt16(port))
        }
        guard let local = endpoint(f[1]), let remote = endpoint(f[2]), let state = hex(f[3], max: 0xFF),
            let (txText, rxText) = pair(f[4]), let tx = hex(txText, max: 0xFFFF_FFFF),
            let rx = hex(rxText, max: 0xFFFF_FFFF),
            let (kindText, whenText) = pair(f[5]), let kind = hex(kindText, max: 0xFF),
            let when = hex(whenText, max: .max), let retransmits = hex(f[6], max: 0xFF), let uid = dec(f[7]),
            let inode = dec(f[9])
        else { return nil }
        let (ms, overflow) = when.multipliedReportingOverflow(by: 10)
        return SocketRecord(
            proto: proto, family: family, state: TCPState(rawValue: UInt8(state)), local: local, remote: remote,
            receiveQueue: UInt32(rx), sendQueue: UInt32(tx), uid: uid, inode: inode,
            timer: SocketTimer(
                kind: SocketTimerKind(rawValue: UInt8(kind)) ?? .unknown,
                expiresMilliseconds: overflow ? .max : UInt32(clamping: ms), retransmits: UInt8(retransmits)))
    }

    static func parseProcLine(_ bytes: [UInt8], _ proto: TransportProtocol, _ family: AddressFamily, line: Int)
        -> Result<SocketRecord, ProcNetError>
    {
        withGuardedBytes(bytes) { b in
            Result { () throws(ProcNetError) -> SocketRecord in
                try ProcNetReader.parseLine(b, proto: proto, family: family, file: "/fuzz/\(proto)", lineNumber: line)
            }
        }
    }

    /// One to four random changes of a text: a byte replaced or inserted from `alphabet`, a byte removed,
    /// the rest cut off, or a run of `0`, `1` or `F` inserted (values past their field's width, leading zeros).
    static func mutateText(_ input: [UInt8], alphabet: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: bytes[i] = alphabet.randomElement(using: &rng)!
            case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
            case 2: bytes.remove(at: i)
            case 3: bytes = Array(bytes.prefix(i))
            default:
                let digit = [UInt8(ascii: "0"), UInt8(ascii: "1"), UInt8(ascii: "F")].randomElement(using: &rng)!
                bytes.insert(contentsOf: Array(repeating: digit, count: .random(in: 1...12, using: &rng)), at: i)
            }
        }
        return bytes
    }

    /// Every kernel-printed line parses back to the record it was printed from.
    @Test func procLineRoundTrip() {
        Self.cases(3000) { rng, label in
            let proto: TransportProtocol = Bool.random(using: &rng) ? .tcp : .udp
            let family: AddressFamily = Bool.random(using: &rng) ? .inet : .inet6
            let (record, when) = Self.randomProcRecord(&rng, proto: proto, family: family)
            let line = Self.procLine(record, when: when, slot: .random(in: 0...99999, using: &rng))
            #expect(Self.referenceParse(line, proto: proto, family: family) == record, "\(label): reference: \(line)")
            let parsed = Self.parseProcLine(Array(line.utf8), proto, family, line: 2)
            #expect((try? parsed.get()) == record, "\(label): \(line): \(parsed)")
        }
    }

    /// A mutated line either parses to exactly what the reference reads from it, or both refuse it, and the
    /// refusal names the file and the line.
    @Test func mutatedProcLineMatchesTheReference() {
        let alphabet = Array("0123456789ABCDEFabcdefG: :  -+x\t".utf8) + [0x00, 0xFF, 0x0A]
        Self.cases(6000) { rng, label in
            let proto: TransportProtocol = Bool.random(using: &rng) ? .tcp : .udp
            let family: AddressFamily = Bool.random(using: &rng) ? .inet : .inet6
            let (record, when) = Self.randomProcRecord(&rng, proto: proto, family: family)
            let line = Self.procLine(record, when: when, slot: .random(in: 0...999, using: &rng))
            let bytes = Self.mutateText(Array(line.utf8), alphabet: alphabet, &rng)
            let lineNumber = Int.random(in: 2...100_000, using: &rng)
            let text = String(decoding: bytes, as: UTF8.self)
            // The reference reads text: a byte that is not UTF-8 (0xFF) becomes U+FFFD, no digit or space either.
            let expected = Self.referenceParse(text, proto: proto, family: family)
            switch Self.parseProcLine(bytes, proto, family, line: lineNumber) {
            case .success(let r):
                #expect(r == expected, "\(label): accepted \(text.debugDescription) as \(r)")
            case .failure(let error):
                #expect(expected == nil, "\(label): refused \(text.debugDescription): \(error)")
                guard case .malformed(let file, let line, _) = error else {
                    Issue.record("\(label): \(error)")
                    return
                }
                #expect(file == "/fuzz/\(proto)" && line == lineNumber, "\(label): \(error)")
            }
        }
    }

    // MARK: sockstat

    static let sockstatKeys: [(proto: String, keys: [String])] = [
        ("sockets", ["used"]), ("TCP", ["inuse", "orphan", "tw", "alloc", "mem"]), ("UDP", ["inuse", "mem"]),
        ("UDPLITE", ["inuse"]), ("RAW", ["inuse"]), ("FRAG", ["inuse", "memory"]), ("TCP6", ["inuse"]),
        ("UDP6", ["inuse"]), ("UDPLITE6", ["inuse"]), ("RAW6", ["inuse"]), ("FRAG6", ["inuse", "memory"]),
    ]

    /// The value of a `Sockstat` field named by protocol and key (the reference's own table).
    static func field(_ s: Sockstat, _ proto: String, _ key: String) -> UInt64? {
        switch (proto, key) {
        case ("sockets", "used"): s.socketsUsed
        case ("TCP", "inuse"): s.tcpInUse
        case ("TCP", "orphan"): s.tcpOrphan
        case ("TCP", "tw"): s.tcpTimeWait
        case ("TCP", "alloc"): s.tcpAllocated
        case ("TCP", "mem"): s.tcpMemoryPages
        case ("UDP", "inuse"): s.udpInUse
        case ("UDP", "mem"): s.udpMemoryPages
        case ("UDPLITE", "inuse"): s.udpLiteInUse
        case ("RAW", "inuse"): s.rawInUse
        case ("FRAG", "inuse"): s.fragInUse
        case ("FRAG", "memory"): s.fragMemory
        case ("TCP6", "inuse"): s.tcp6InUse
        case ("UDP6", "inuse"): s.udp6InUse
        case ("UDPLITE6", "inuse"): s.udpLite6InUse
        case ("RAW6", "inuse"): s.raw6InUse
        case ("FRAG6", "inuse"): s.frag6InUse
        case ("FRAG6", "memory"): s.frag6Memory
        default: nil
        }
    }

    /// Random values written as `sockstat_seq_show` and `sockstat6_seq_show` write them (both files in one
    /// text), now and then with a protocol or key this version does not know.
    static func randomSockstat(_ rng: inout SplitMix64) -> (text: String, values: [String: UInt64]) {
        var values: [String: UInt64] = [:]
        var text = ""
        for (proto, keys) in sockstatKeys {
            text += "\(proto):"
            for key in keys {
                let v: UInt64 =
                    Bool.random(using: &rng)
                    ? .random(in: 0...100_000, using: &rng) : .random(in: 0...UInt64.max, using: &rng)
                values["\(proto) \(key)"] = v
                text += " \(key) \(v)"
            }
            if Int.random(in: 0..<8, using: &rng) == 0 { text += " newkey_\(proto.count) 5" }
            text += "\n"
            if Int.random(in: 0..<8, using: &rng) == 0 { text += "MPTCP: inuse 3\n" }
        }
        return (text, values)
    }

    /// The reference reading of a sockstat text: the line number of the first line that is not
    /// `NAME: key value …`, or the values (last one wins).
    struct BadLine: Error { var line: Int }

    static func referenceSockstat(_ text: String) -> Result<[String: UInt64], BadLine> {
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        if lines.isEmpty { return .failure(BadLine(line: 1)) }
        func isName(_ s: Substring) -> Bool {
            !s.isEmpty
                && s.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || CharacterSet.alphanumerics.contains($0)) }
        }
        var values: [String: UInt64] = [:]
        for (i, line) in lines.enumerated() {
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, isName(parts[0]) else { return .failure(BadLine(line: i + 1)) }
            let words = parts[1].split(separator: " ")
            guard !words.isEmpty, words.count % 2 == 0 else { return .failure(BadLine(line: i + 1)) }
            for k in stride(from: 0, to: words.count, by: 2) {
                let value = words[k + 1]
                guard isName(words[k]), value.unicodeScalars.allSatisfy({ $0.isASCII && ("0"..."9").contains($0) }),
                    let v = UInt64(value)
                else { return .failure(BadLine(line: i + 1)) }
                values["\(parts[0]) \(words[k])"] = v
            }
        }
        return .success(values)
    }

    @Test func sockstatRoundTrip() throws {
        try Self.cases(1000) { rng, label in
            let (text, values) = Self.randomSockstat(&rng)
            var s = Sockstat()
            try s.parse(text, file: "/fuzz/sockstat")
            for (proto, keys) in Self.sockstatKeys {
                for key in keys {
                    #expect(Self.field(s, proto, key) == values["\(proto) \(key)"], "\(label): \(proto) \(key)")
                }
            }
        }
    }

    @Test func mutatedSockstatMatchesTheReference() {
        let alphabet = Array("0123456789 :\n_-+aZ\t".utf8) + [0x00, 0xC3]
        Self.cases(3000) { rng, label in
            let bytes = Self.mutateText(Array(Self.randomSockstat(&rng).text.utf8), alphabet: alphabet, &rng)
            let text = String(decoding: bytes, as: UTF8.self)
            var s = Sockstat()
            let outcome = Result { () throws(ProcNetError) in try s.parse(text, file: "/fuzz/sockstat") }
            switch (outcome, Self.referenceSockstat(text)) {
            case (.success, .success(let values)):
                for (proto, keys) in Self.sockstatKeys {
                    for key in keys {
                        #expect(
                            Self.field(s, proto, key) == values["\(proto) \(key)"] ?? 0,
                            "\(label): \(text.debugDescription)")
                    }
                }
            case (.failure(let error), .failure(let bad)):
                let line = bad.line
                guard case .malformed(let file, let number, _) = error else {
                    Issue.record("\(label): \(error)")
                    return
                }
                #expect(file == "/fuzz/sockstat" && number == line, "\(label): \(error) for \(text.debugDescription)")
            case (let actual, let expected):
                Issue.record("\(label): parse \(actual), reference \(expected) for \(text.debugDescription)")
            }
        }
    }
}
