import Foundation
import SockDiag
import SockScanTestSupport
import Testing

@testable import SockFormat

@Suite("CSV output")
struct CSVTests {
    static func field(_ text: String) -> String {
        var w = TextWriter()
        w.writeCSVField(text)
        return w.string
    }

    @Test(
        "RFC 4180 quoting",
        arguments: [
            ("nginx", "nginx"), ("", ""), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("two\nlines", "\"two\nlines\""), ("cr\r", "\"cr\r\""), (" lead", "\" lead\""), ("trail ", "\"trail \""),
            ("in side", "in side"), ("\"", "\"\"\"\""), ("::1", "::1"),
        ])
    func quoting(input: String, expected: String) {
        #expect(Self.field(input) == expected)
    }

    @Test func headerAndRowHaveTheSameColumns() throws {
        let f = try ProcFixture.owners()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        for fields: RecordFormatter.Fields in [
            [], [.extended], [.tcpInfo, .memory], [.processes], [.extended, .tcpInfo, .memory, .processes],
        ] {
            let formatter = RecordFormatter(fields: fields)
            var w = TextWriter()
            formatter.writeCSVHeader(into: &w)
            var record = RecordFormatterTests.established
            for inode: UInt32 in [1000, 2000, 9] {
                record.inode = inode
                formatter.writeCSV(record, owners: owners, into: &w)
            }
            record.tcpInfo = TCPInfo()
            record.memory = SocketMemory()
            formatter.writeCSV(record, owners: owners, into: &w)
            let lines = w.string.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count == 5)
            let widths = Set(lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).count })
            #expect(widths == [formatter.csvColumns.count], "\(fields): \(w.string)")
        }
    }

    @Test func rowValues() throws {
        let f = try ProcFixture.owners()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        var record = RecordFormatterTests.established
        record.inode = 1000
        let formatter = RecordFormatter(fields: [.processes])
        var w = TextWriter()
        formatter.writeCSVHeader(into: &w)
        formatter.writeCSV(record, owners: owners, into: &w)
        record.inode = 2000
        formatter.writeCSV(record, owners: owners, into: &w)
        record.inode = 0
        formatter.writeCSV(RecordFormatterTests.listener6, owners: owners, into: &w)
        #expect(
            w.string == """
                proto,family,state,local_address,local_port,remote_address,remote_port,recv_q,send_q,uid,inode,cookie,interface,pid,comm,fd
                tcp,inet,established,10.0.0.5,22,10.0.0.1,51234,0,36,1000,1000,81985529216486895,0,100;200,nginx;nginx,3;3
                tcp,inet,established,10.0.0.5,22,10.0.0.1,51234,0,36,1000,2000,81985529216486895,0,100,nginx,4
                tcp,inet6,listen,::,22,::,0,0,4096,0,0,0,0,,,

                """)
    }
}

@Suite("RecordFormatter with owners")
struct OwnerFormattingTests {
    @Test func tableAndJSON() throws {
        let f = try ProcFixture.owners()
        let owners = try ProcessTable(resolving: [1000, 2000], procRoot: f.root)
        var formatter = RecordFormatter(fields: [.processes])
        var record = RecordFormatterTests.established
        var w = TextWriter()
        formatter.writeHeader(into: &w)
        record.inode = 1000
        formatter.writeRow(record, owners: owners, into: &w)
        record.inode = 2000
        formatter.writeRow(record, owners: owners, into: &w)
        record.inode = 7
        formatter.writeRow(record, owners: owners, into: &w)
        let lines = w.string.split(separator: "\n")
        #expect(lines[0].hasSuffix("Peer Address:Port        Process"))
        #expect(lines[1].hasSuffix(#"10.0.0.1:51234           users:(("nginx",pid=100,fd=3),("nginx",pid=200,fd=3))"#))
        #expect(lines[2].hasSuffix(#"10.0.0.1:51234           users:(("nginx",pid=100,fd=4))"#))
        #expect(lines[3].hasSuffix("10.0.0.1:51234"))

        func json(_ inode: UInt32) throws -> [String: Any] {
            var w = TextWriter()
            record.inode = inode
            formatter.writeJSON(record, owners: owners, into: &w)
            return try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        }
        let shared = try #require(try json(1000)["process"] as? [[String: Any]])
        #expect(shared.map { $0["pid"] as? Int } == [100, 200])
        #expect(shared.map { $0["comm"] as? String } == ["nginx", "nginx"])
        #expect(shared.map { $0["fd"] as? Int } == [3, 3])
        let single = try #require(try json(2000)["process"] as? [String: Any])
        #expect(single["pid"] as? Int == 100 && single["comm"] as? String == "nginx" && single["fd"] as? Int == 4)
        #expect(try json(7)["process"] == nil)
    }
}
