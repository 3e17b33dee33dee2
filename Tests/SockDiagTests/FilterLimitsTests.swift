import CNetlink
import Testing

@testable import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Filters as large and as deep as a hostile or generated input makes them: a clear error or a result, never a
/// crash, a trap or a silent wrong answer.
@Suite("Filter language: size and depth limits")
struct FilterLimitsTests {
    static func repeated(_ word: String, _ count: Int, separator: String = " ") -> String {
        Array(repeating: word, count: count).joined(separator: separator)
    }

    static func nested(_ depth: Int, _ inner: String = "dport = :1") -> String {
        String(repeating: "( ", count: depth) + inner + String(repeating: " )", count: depth)
    }

    /// An `or` chain of `count` distinct port conditions.
    static func orChain(_ count: Int) -> String {
        (0..<count).map { "dport = :\($0 % 60_000 + 1)" }.joined(separator: " or ")
    }

    static func parseError(_ text: String) -> FilterParseError? {
        do {
            _ = try Filter(parsing: text, hosts: .none)
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "nesting deeper than the limit is a parse error at the token that went too deep",
        arguments: [17_900, Filter.maximumDepth + 1])
    func deepParentheses(depth: Int) throws {
        let text = Self.nested(depth)
        let error = try #require(Self.parseError(text), "a \(depth)-deep filter parsed")
        #expect(error.message.contains("deeper than \(Filter.maximumDepth)"), "\(error.message)")
        // The first '(' beyond the limit: each level is "( ", two characters.
        #expect(error.offset == 2 * Filter.maximumDepth, "\(error.offset)")
        #expect(text.dropFirst(error.offset).hasPrefix("("))
    }

    @Test("nesting at the limit parses, prints and parses back the same")
    func deepestParentheses() throws {
        let filter = try Filter(parsing: Self.nested(Filter.maximumDepth - 1, "not dport = :1"), hosts: .none)
        #expect(filter.expression == .not(.dport(.equal, 1)))
        #expect(try Filter(parsing: filter.description) == filter)
    }

    @Test("a long run of 'not' is a parse error, not a stack overflow", arguments: [34_400, Filter.maximumDepth + 1])
    func notChain(count: Int) throws {
        let text = Self.repeated("not", count) + " dport = :1"
        let error = try #require(Self.parseError(text))
        #expect(error.message.contains("deeper than \(Filter.maximumDepth)"), "\(error.message)")
        #expect(error.offset == 4 * Filter.maximumDepth)
    }

    @Test("'not' folds over states as before, also in long runs within the limit")
    func notStates() throws {
        let text = Self.repeated("not", Filter.maximumDepth - 1) + " state established"
        #expect(try Filter(parsing: text).expression == .state(StateSet.all.subtracting(StateSet(.established))))
    }

    /// A flat chain of one operator is balanced: every recursive walk of the tree sees a depth of about
    /// log2(terms), however long the chain.
    @Test("a flat 'or' chain of 60,000 conditions parses into a shallow tree that every walk handles")
    func longOrChain() throws {
        let filter = try Filter(parsing: Self.orChain(60_000), hosts: .none)
        #expect(filter.expression.depth <= 17, "depth \(filter.expression.depth)")
        #expect(try Filter(parsing: filter.description, hosts: .none) == filter)
        #expect(filter.expression.possibleStates == .all)
        #expect(!filter.expression.mentionsState)
        #expect(try filter.expression.resolvingDevices({ _ in 1 }) == filter.expression)
        let record = SocketRecord.sample(remotePort: 59_999)
        #expect(filter.matches(record))
        #expect(!filter.matches(SocketRecord.sample(remotePort: 60_001)))
        // 60,000 conditions are far beyond what one kernel program holds: an error that says so.
        #expect(throws: FilterCompileError.programTooLong(60_000 * 12 - 4)) { _ = try KernelProgram(filter) }
    }

    @Test("alternating 'and'/'or' nests one level per switch: beyond the limit a parse error")
    func alternatingChain() throws {
        var text = "dport = :1"
        for i in 0..<(Filter.maximumDepth + 10) { text += (i % 2 == 0 ? " or" : " and") + " dport = :\(i + 2)" }
        let error = try #require(Self.parseError(text))
        #expect(error.message.contains("deeper than \(Filter.maximumDepth)"), "\(error.message)")
        #expect(error.offset > 0 && error.offset < text.count)
    }

    @Test("a program longer than a netlink attribute holds is an error naming the real limit, not a trap")
    func programTooLong() throws {
        // 8,200 'dport >= :1' (and-ed by juxtaposition): 8 bytes each.
        let filter = try Filter(parsing: Self.repeated("dport >= :1", 8200), hosts: .none)
        #expect(filter.expression.depth <= 15)
        do {
            _ = try KernelProgram(filter)
            Issue.record("a 65,600-byte program compiled")
        } catch {
            #expect(error == .programTooLong(8200 * 8))
            #expect(error.description.contains("65528"), "\(error)")
            #expect(!error.description.contains("4096"), "\(error)")
        }
    }

    @Test("programs up to the attribute's limit compile: 400 ports (4,796 bytes), 5,461 ports (65,528 bytes)")
    func largePrograms() throws {
        #expect(KernelProgram.maximumBytecodeLength == 65528)
        let p400 = try KernelProgram(Filter(parsing: Self.orChain(400), hosts: .none))
        #expect(p400.bytecode.count == 400 * 8 + 399 * 4)
        // An exact port is 8 bytes and each 'or' a 4-byte jump: 5,461 ports fill the attribute exactly.
        let p = try KernelProgram(Filter(parsing: Self.orChain(5461), hosts: .none))
        #expect(p.bytecode.count == KernelProgram.maximumBytecodeLength)
        do {
            _ = try KernelProgram(Filter(parsing: Self.orChain(5462), hosts: .none))
            Issue.record("5,462 ports compiled")
        } catch let error as FilterCompileError {
            #expect(error == .programTooLong(5462 * 12 - 4))
        }
    }

    @Test("every walk at the depth limit runs on a thread with a 512 KiB stack (debug build)")
    func walksAtTheLimitFitASmallStack() throws {
        // Alternating operators: the deepest tree the parser builds.
        var text = "dport = :1"
        for i in 0..<(Filter.maximumDepth - 1) {
            text += (i % 2 == 0 ? " or" : " and") + (i % 3 == 0 ? " dev lo" : " sport >= :\(i + 2)")
        }
        let ok = try onThread(stackSize: 512 << 10) {
            let filter = try Filter(parsing: text, hosts: .none)
            guard filter.expression.depth == Filter.maximumDepth else { return false }
            let resolved = try filter.expression.resolvingDevices { _ in 1 }
            let program = try KernelProgram(Filter(resolved))
            let again = try Filter(parsing: filter.description, hosts: .none)
            var hasher = Hasher()
            filter.hash(into: &hasher)
            _ = hasher.finalize()
            _ = resolved.matches(SocketRecord.sample(remotePort: 1))
            _ = program.explanation
            return again == filter && !resolved.possibleStates.isEmpty && resolved.evaluableInUserSpace
                && !program.bytecode.isEmpty && !resolved.mentionsState && resolved.mentionsDevice
        }
        #expect(ok)
    }

    @Test(
        "'*' (any port) takes '=' or no operator; another operator is an error",
        arguments: ["sport != *", "sport < *", "dport >= :*", "dport > *", "sport le :*", "dport neq *"])
    func starWithOperator(text: String) throws {
        let error = try #require(Self.parseError(text), "'\(text)' parsed")
        #expect(error.message.contains("'*'"), "\(error.message)")
        #expect(
            error.offset == text.firstIndex(of: "*").map { text.distance(from: text.startIndex, to: $0) }!
                - (text.hasSuffix(":*") ? 1 : 0))
    }

    @Test("'*' with '=' or no operator is any port", arguments: ["sport = *", "sport *", "dport == :*", "dport :*"])
    func starAny(text: String) throws {
        let filter = try Filter(parsing: text, hosts: .none)
        #expect(filter.matches(.sample(remotePort: 7)))
    }

    @Test("a 100 KB bad filter is echoed as a window around the caret, not whole")
    func boundedErrorText() throws {
        let text = Self.repeated("dport = :1 and", 6600) + " bogus and " + Self.repeated("sport = :2", 3000)
        let error = try #require(Self.parseError(text))
        let start = text.utf8.count - (" and " + Self.repeated("sport = :2", 3000)).utf8.count - "bogus".utf8.count
        #expect(error.offset == start)
        let lines = error.description.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(error.description.utf8.count < 400, "\(error.description.utf8.count) bytes")
        try #require(lines.count == 3, "\(error.description)")
        // The caret still sits under the offending word.
        let column = try #require(lines[2].firstIndex(of: "^"))
        let offsetInLine = lines[2].distance(from: lines[2].startIndex, to: column)
        #expect(lines[1].dropFirst(offsetInLine).hasPrefix("bogus"), "\(error.description)")
        #expect(lines[1].contains("…"))
    }

    @Test("a huge single bad token is cut in the message and under the caret")
    func hugeToken() throws {
        let text = "dport = :" + String(repeating: "9", count: 100_000)
        let error = try #require(Self.parseError(text))
        #expect(error.offset == 8)
        #expect(error.description.utf8.count < 400, "\(error.description.utf8.count) bytes")
        let text2 = "dport = :1 " + String(repeating: "x", count: 100_000)
        #expect(try #require(Self.parseError(text2)).description.utf8.count < 400)
    }
}

/// The work and result of ``onThread(stackSize:_:)``.
private final class ThreadWork<T>: @unchecked Sendable {
    let body: () throws -> T
    var result: Result<T, any Error>?
    init(_ body: @escaping () throws -> T) { self.body = body }
    func run() { result = Result { try body() } }
}

/// Runs `body` on a thread of its own with `stackSize` bytes of stack.
func onThread<T>(stackSize: Int, _ body: @escaping () throws -> T) throws -> T {
    let work = ThreadWork(body)
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    var thread = pthread_t()
    let start: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { raw in
        (Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! any ThreadRunnable).run()
        return nil
    }
    let rc = pthread_create(&thread, &attributes, start, Unmanaged.passRetained(work as AnyObject).toOpaque())
    guard rc == 0 else { throw CommandFailure("pthread_create: \(rc)") }
    pthread_join(thread, nil)
    return try work.result!.get()
}

private protocol ThreadRunnable { func run() }
extension ThreadWork: ThreadRunnable {}

private struct CommandFailure: Error { var message: String; init(_ m: String) { message = m } }

extension SocketRecord {
    /// An established IPv4 TCP socket 127.0.0.1:40000 -> 127.0.0.1:`remotePort`.
    static func sample(remotePort: UInt16) -> SocketRecord {
        SocketRecord(
            proto: .tcp, family: .inet, state: .established, local: Endpoint(address: .v4(.loopback), port: 40000),
            remote: Endpoint(address: .v4(.loopback), port: remotePort))
    }
}
