import Foundation
import SockScanTestSupport
import Testing

/// `sockscan` holds the scan commands and hands the others (and the whole command's help) to `sockscan-full`.
@Suite("sockscan and its companion")
struct CompanionTests {
    @Test("the commands of sockscan-full run through sockscan; its help lists every command")
    func handOver() throws {
        let help = try SockscanBinary.run(["--help"])
        #expect(help.status == 0)
        for command in ["list", "count", "ports", "summary", "record", "watch", "report", "metrics", "serve"] {
            #expect(help.stdout.contains("\n  \(command) "), "\(command) missing from: \(help.stdout)")
        }
        let record = try SockscanBinary.run(["record", "--help"])
        #expect(record.status == 0)
        #expect(record.stdout.contains("USAGE: sockscan record"), "\(record.stdout)")
        let helpReport = try SockscanBinary.run(["help", "report"])
        #expect(helpReport.stdout.contains("USAGE: sockscan report"), "\(helpReport.stdout)")
        let bash = try SockscanBinary.run(["--generate-completion-script", "bash"])
        #expect(bash.stdout.contains("record") && bash.stdout.contains("--db"))
        // The scan commands answer in sockscan itself (no companion in its process tree).
        let list = try SockscanBinary.run(["list", "--help"])
        #expect(list.stdout.contains("USAGE: sockscan list"))
    }

    @Test("without its companion, sockscan says where it looked and exits 1; the scan commands still work")
    func missingCompanion() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sockscan-alone-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let alone = directory.appendingPathComponent("sockscan").path
        try FileManager.default.copyItem(atPath: SockscanBinary.path, toPath: alone)
        let record = try Command.run(alone, ["record", "--db", directory.appendingPathComponent("h.db").path])
        #expect(record.status == 1)
        #expect(
            record.stderr.contains("'record' is a command of sockscan-full, which is not installed beside sockscan"))
        #expect(record.stderr.contains(directory.path + "/sockscan-full"), "\(record.stderr)")
        let count = try Command.run(alone, ["count", "-ta"])
        #expect(count.status == 0, "\(count)")
    }
}
