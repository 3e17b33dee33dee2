import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// The built `sockscan` (``SockscanBinary``); `Sockscan` is the same, as the history suites spell it.
typealias Binary = SockscanBinary
typealias Sockscan = SockscanBinary

/// `sockscan` running in the background (a recorder), output to files, every wait bounded.
final class Background {
    let process: BackgroundProcess

    init(_ arguments: [String]) throws {
        process = try BackgroundProcess(Sockscan.path, arguments)
    }

    var pid: Int32 { process.pid }
    var stderr: String { process.stderr }
    var stdout: String { process.stdout }
    /// Whether it still runs (reaps it when it has ended).
    var isRunning: Bool { process.isRunning }

    /// Sends `signal` (unless it has already ended) and waits (at most `timeout` s) for the exit.
    ///
    /// - Returns: the exit status, or 128 + the signal when a signal ended it.
    /// - Throws: when it had to be killed after `timeout`.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM, timeout: Double = 10) throws -> Int32 {
        guard let status = process.stop(signal, grace: timeout) else {
            throw CommandError("sockscan did not stop within \(timeout) s of signal \(signal); stderr: \(stderr)")
        }
        return status
    }
}

/// The namespace and mix of the running test (``MixTrait``).
typealias CLIFixture = MixFixture

extension MixFixture {
    /// Runs `sockscan SUBCOMMAND --netns NAME arguments…`.
    func sockscan(_ subcommand: String, _ arguments: [String]) throws -> CommandResult {
        try Binary.run([subcommand, "--netns", namespace.name] + arguments)
    }
}

extension Trait where Self == MixTrait {
    static func cliMix(extraPairs: Int) -> Self { MixTrait(extraPairs: extraPairs) }
}

/// Parses table rows (`Netid State Recv-Q Send-Q Local Peer`) as `ss` rows.
func tableTuples(_ result: CommandResult, proto: TransportProtocol? = nil) -> [SocketTuple] {
    result.lines.compactMap { line in
        let tuple = SSOracle.parse(line, proto: proto, state: nil)
        #expect(tuple != nil, "unparsable row: \(line)")
        return tuple
    }
}

/// A small RFC 4180 reader for checking output: quoted fields, doubled quotes, LF or CRLF line ends.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" {
                        field.append("\"")
                        chars = chars.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }
}
