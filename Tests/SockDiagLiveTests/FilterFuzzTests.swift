import SockDiag
import SockScanTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Filter text as a fuzzer makes it: expressions from the grammar (with every spelling the parser takes,
/// deep nesting and long runs), then mutated byte by byte and token by token, and random garbage.
struct FilterFuzzer {
    var rng: SplitMix64

    static let words = [
        "state", "exclude", "sport", "dport", "src", "dst", "dev", "autobound", "and", "or", "not", "!", "&&", "||",
        "&", "|", "(", ")", "=", "==", "!=", "<", ">", "<=", ">=", "eq", "neq", "lt", "gt", "le", "ge", "*", ":*",
        "any", "all", "default", "lo", "1", "web", "v4only", "nosuch", "inet:", "inet6:",
    ]
    static let ports = [
        "7001", "7002", "7006", "7010", "7101", "7102", "7103", "7104", "0", "1", "65535", "0x1b59", "015531", "0x1B5A",
        "65536", "-1", "ssh", "http", "nosuchservice", "*", "",
    ]
    static let hosts = [
        "127.0.0.1", "127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "127.0.0.0/8", "127.0.0.0/255.0.0.0",
        "10.8/16", "0.0.0.0", "[::1]", "::1", "[::]/0", "[::1]/64", "*", "any", "all", "default", "inet:*",
        "inet6:*", "inet:127.0.0.1", "inet6:[::1]", "inet:[::1]", "web", "v4only", "inet6:v4only", "nosuch",
        "300.1.1.1", "1.2.3.4.5", "[::1", "unix:/x", "127.0.0.1/33", "web/8", "any/8", "",
    ]
    static let states =
        TCPState.allCases.map(\.name) + [
            "all", "connected", "synchronized", "bucket", "big", "unconnected", "syn-rcv", "closed", "listening",
            "bogus",
        ]

    mutating func pick<T>(_ items: [T]) -> T { items.randomElement(using: &rng)! }
    mutating func chance(_ n: Int) -> Bool { Int.random(in: 0..<n, using: &rng) == 0 }

    mutating func leaf() -> String {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0, 1:
            let side = pick(["sport", "dport"])
            let op = chance(4) ? "" : pick(["=", "==", "!=", "<", ">", "<=", ">=", "eq", "ge", "lt", "neq"]) + " "
            return "\(side) \(op)\(chance(3) ? "" : ":")\(pick(Self.ports))"
        case 2, 3:
            let side = pick(["src", "dst"])
            let op = chance(3) ? pick(["= ", "!= ", "== "]) : ""
            let port = chance(3) ? ":" + pick(Self.ports) : ""
            let host = pick(Self.hosts)
            return "\(side) \(op)\(host)\(host.contains("/") || host.hasPrefix("[") || !host.contains(":") ? port : "")"
        case 4: return pick(["dev lo", "dev 1", "dev != lo", "dev nosuch0", "autobound"])
        default: return "\(pick(["state", "exclude"])) \(pick(Self.states))"
        }
    }

    mutating func expression(depth: Int) -> String {
        if depth == 0 || chance(3) { return leaf() }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return "\(pick(["not", "!"])) \(expression(depth: depth - 1))"
        case 1: return "( \(expression(depth: depth - 1)) )"
        case 2:
            // A run of one operator, long enough to need balancing.
            let op = pick(["or", "and", "||", "&&", ""])
            let count = chance(4) ? Int.random(in: 50..<400, using: &rng) : Int.random(in: 2..<6, using: &rng)
            return (0..<count).map { _ in leaf() }.joined(separator: " \(op) ")
        default:
            return
                "\(expression(depth: depth - 1)) \(pick(["or", "and", "", "|", "&"])) \(expression(depth: depth - 1))"
        }
    }

    /// Deep nesting around the limit: parentheses, `not`, alternating operators.
    mutating func deep() -> String {
        let depth = Int.random(in: (Filter.maximumDepth - 3)...(Filter.maximumDepth + 3), using: &rng)
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return String(repeating: "( ", count: depth) + leaf() + String(repeating: " )", count: depth)
        case 1: return String(repeating: "not ", count: depth) + leaf()
        default:
            return (0..<depth).map { i in leaf() + (i % 2 == 0 ? " or" : " and") }.joined(separator: " ") + " " + leaf()
        }
    }

    mutating func mutate(_ text: String) -> String {
        var chars = Array(text)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = chars.isEmpty ? 0 : Int.random(in: 0..<chars.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !chars.isEmpty: chars.remove(at: at)
            case 1: chars.insert(pick(Array("()!=<>&|: */.[]x0123456789abcdef-_\t\u{7}é")), at: at)
            case 2 where !chars.isEmpty: chars[at] = pick(Array("()!=<>&|:*/.[]09afx-é\u{0}"))
            case 3: chars.insert(contentsOf: " " + pick(Self.words) + " ", at: at)
            default:
                // Splice in a copy of a piece of the text itself.
                guard !chars.isEmpty else { continue }
                let from = Int.random(in: 0..<chars.count, using: &rng)
                let piece = chars[from..<min(chars.count, from + Int.random(in: 1...20, using: &rng))]
                chars.insert(contentsOf: piece, at: at)
            }
        }
        return String(chars)
    }

    mutating func garbage() -> String {
        String(
            (0..<Int.random(in: 0..<40, using: &rng)).map { _ in
                chance(3)
                    ? pick(Array("()!=<>&|:*/. ")) : Character(Unicode.Scalar(UInt8.random(in: 1...126, using: &rng)))
            })
    }

    mutating func next() -> String {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: return garbage()
        case 1: return deep()
        case 2, 3, 4: return mutate(expression(depth: 4))
        default: return expression(depth: 4)
        }
    }
}

/// The fuzz run as a property test: a short run in every test run, a long one by environment
/// (`SOCKSCAN_FUZZ_ITERATIONS=200000 swift test --skip-build --filter FilterFuzzTests`; README, Filters).
@Suite("Filters: fuzzed text keeps every property", .liveMix(extraPairs: 4))
struct FilterFuzzTests {
    static func environment(_ name: String) -> UInt64? {
        getenv(name).flatMap { UInt64(String(cString: $0)) }
    }
    static let seed = environment("SOCKSCAN_FUZZ_SEED") ?? 20_261_203
    static let iterations = Int(environment("SOCKSCAN_FUZZ_ITERATIONS") ?? 1500)
    /// Every n-th expression that compiles also runs in the kernel.
    static let kernelEvery = 5

    static let hosts = HostResolver.table([
        "web": [.v4(.loopback), .v6(.loopback)], "v4only": [.v4(IPv4Address(127, 0, 0, 2))],
    ])

    @Test(
        "parse, print, parse again, compile, run in the kernel: the same sockets as user space; errors point inside the input"
    )
    func fuzz() throws {
        let fixture = try LiveFixture.require()
        let scanner = try fixture.scanner()
        let everything = ScanQuery(protocols: .all, states: .all)
        var full = try scanner.records(everything)
        var fuzzer = FilterFuzzer(rng: SplitMix64(seed: Self.seed))
        var parsed = 0
        var refused = 0
        var inKernel = 0
        var nonEmpty = 0
        for round in 0..<Self.iterations {
            let text = fuzzer.next()
            let context = "seed \(Self.seed) (SOCKSCAN_FUZZ_SEED), round \(round): \(text.prefix(300))"
            let filter: Filter
            do {
                filter = try Filter(parsing: text, hosts: Self.hosts)
            } catch {
                refused += 1
                // The error points inside the input (or just past its end), and says so briefly.
                #expect(error.offset >= 0 && error.offset <= text.count, "offset \(error.offset): \(context)")
                #expect(error.length >= 1, "\(context)")
                #expect(error.source == text, "\(context)")
                let lines = error.description.split(separator: "\n", omittingEmptySubsequences: false)
                #expect(lines.count == 3 && lines[2].contains("^"), "\(error.description): \(context)")
                #expect(error.description.utf8.count < 1024, "\(error.description.utf8.count) bytes: \(context)")
                continue
            }
            parsed += 1
            // Printed, it parses back to the same tree (with no name to resolve), and prints the same.
            let printed = filter.description
            let again = try #require(try? Filter(parsing: printed, hosts: .none), "reparse of \(printed): \(context)")
            #expect(again == filter, "\(printed): \(context)")
            #expect(again.description == printed, "\(context)")
            #expect(filter.expression.depth <= Filter.maximumDepth, "\(context)")
            // Compiled: a program within the attribute's size, or an error that says why.
            // Prepared as the scanner runs it: devices looked up in the namespace, then compiled into a program
            // within the attribute's size, or an error that says why.
            let prepared: PreparedScan
            do {
                prepared = try scanner.prepare(ScanQuery(protocols: .all, states: .all, filter: filter))
            } catch {
                switch error {
                case .filter(.programTooLong(let n)): #expect(n > KernelProgram.maximumBytecodeLength, "\(context)")
                case .filter(.autoboundInUserSpace): #expect(text.contains("autobound"), "\(context)")
                case .filter(.unknownDevice): #expect(text.contains("dev"), "\(context)")
                default: Issue.record("\(error): \(context)")
                }
                continue
            }
            let resolved = try #require(prepared.filter).expression
            #expect(prepared.program.bytecode.count <= KernelProgram.maximumBytecodeLength)
            guard parsed % Self.kernelEvery == 0 else { continue }
            // In the kernel: what it returns is what the user-space evaluator keeps of a full dump.
            inKernel += 1
            let kernel: Set<SocketTuple>
            do {
                var records: [SocketRecord] = []
                _ = try scanner.forEach(prepared) { records.append($0) }
                kernel = Set(records.map(SocketTuple.init))
            } catch {
                Issue.record("the kernel refused \(printed.prefix(300)): \(error): \(context)")
                continue
            }
            guard resolved.evaluableInUserSpace else { continue }
            var user = Set(full.filter { resolved.matches($0) }.map(SocketTuple.init))
            if kernel != user {
                // The table may have moved (a TIME_WAIT socket ended): look again once.
                full = try scanner.records(everything)
                user = Set(full.filter { resolved.matches($0) }.map(SocketTuple.init))
            }
            expectSame(kernel, user, "kernel vs user space, \(context)")
            if !kernel.isEmpty { nonEmpty += 1 }
        }
        // The run must exercise both sides: texts that parse and run, texts that are refused.
        #expect(parsed > Self.iterations / 4, "only \(parsed) of \(Self.iterations) parsed")
        #expect(refused > Self.iterations / 10, "only \(refused) of \(Self.iterations) refused")
        #expect(inKernel > parsed / (Self.kernelEvery * 2), "only \(inKernel) ran in the kernel")
        #expect(nonEmpty > inKernel / 10, "only \(nonEmpty) of \(inKernel) kernel runs matched anything")
    }
}
