import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// Output formats.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// The `ss` selection flags shared by the subcommands that scan.
struct ScanOptions: ParsableArguments {
    @Flag(name: [.customShort("t"), .customLong("tcp")], help: "TCP sockets (the default when neither -t nor -u is given).")
    var tcp = false

    @Flag(name: [.customShort("u"), .customLong("udp")], help: "UDP sockets.")
    var udp = false

    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.")
    var ipv4 = false

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.")
    var ipv6 = false

    @Flag(name: [.customShort("a"), .customLong("all")], help: "All states (listening, time-wait and unconnected too).")
    var all = false

    @Flag(name: [.customShort("l"), .customLong("listening")], help: "Listening sockets only (and unconnected UDP).")
    var listening = false

    @Option(name: .customLong("netns"), help: ArgumentHelp("Scan another network namespace.", valueName: "NAME|PATH|PID"))
    var netns: String?

    @Flag(name: .customLong("proc"), help: "Read /proc/net instead of sock_diag (slower; for comparison).")
    var proc = false

    @Option(name: .customLong("tcp-strategy"), help: "How TCP over both families is dumped: automatic, perFamily or onePass.")
    var tcpStrategy: TCPDumpStrategy = .automatic

    @Argument(
        parsing: .remaining,
        help: ArgumentHelp(
            "State filter as in ss: state NAME, exclude NAME (repeatable).",
            discussion: "Names: \(StateSet.validNames.joined(separator: " "))",
            valueName: "filter"))
    var filter: [String] = []

    mutating func validate() throws {
        if ipv4 && ipv6 { throw ValidationError("-4 and -6 exclude each other; give neither for both families") }
        _ = try states()
    }

    var protocols: ProtocolSet {
        var set: ProtocolSet = []
        if tcp { set.insert(.tcp) }
        if udp { set.insert(.udp) }
        return set.isEmpty ? .tcp : set
    }

    var families: FamilySet { ipv4 ? .inet : ipv6 ? .inet6 : .all }

    /// The state set: `state`/`exclude` words as `ss` reads them, else -a / -l / the `ss` default.
    func states() throws -> StateSet {
        var result: StateSet? = nil
        var words = filter[...]
        while let word = words.popFirst() {
            switch word {
            case "state", "exclude", "excl":
                guard let name = words.popFirst() else {
                    throw ValidationError("'\(word)' needs a state name: \(StateSet.validNames.joined(separator: ", "))")
                }
                guard let set = StateSet(name: name) else {
                    throw ValidationError(
                        "unknown state '\(name)'; expected one of: \(StateSet.validNames.joined(separator: ", "))")
                }
                if word == "state" {
                    result = (result ?? []).union(set)
                } else {
                    result = (result ?? .all).subtracting(set)
                }
            default:
                throw ValidationError(
                    "unsupported filter word '\(word)'; this version takes 'state NAME' and 'exclude NAME'")
            }
        }
        if let result { return result }
        if listening { return StateSet([.listen, .close]) }
        if all { return .all }
        return .ssDefault
    }

    func query(extensions: ScanExtensions = []) throws -> ScanQuery {
        ScanQuery(protocols: protocols, families: families, states: try states(), extensions: extensions)
    }

    func makeScanner() throws -> Scanner {
        let namespace = try netns.map { try NetworkNamespace($0) }
        let scanner = try Scanner(namespace: namespace, tcpStrategy: tcpStrategy, onWarning: { Console.warn($0) })
        if proc { scanner.forceProcfs() }
        return scanner
    }
}

extension TCPDumpStrategy: ExpressibleByArgument {}

/// stderr messages and exit codes.
enum Console {
    static func warn(_ message: String) {
        var w = TextWriter()
        w.write(message)
        w.write(byte: UInt8(ascii: "\n"))
        try? w.flush(to: STDERR_FILENO)
    }
}

/// Runs a scan and turns its runtime failures into one line on stderr and exit 1.
func runtime<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as OutputError where error == .closed {
        throw ExitCode.success
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        Console.warn("sockscan: \(error)")
        throw ExitCode.failure
    }
}
