import Foundation
import SockDiag
import Testing

@testable import SockFormat

/// Every field of the field lists reaches every format: JSON (key, value, order), the CSV header and rows, and
/// the table (unless the list leaves it out of the table, as `ss` does). A field added to a list but missed by
/// a format fails here.
@Suite("Socket fields in every format")
struct SocketFieldsTests {
    /// A socket whose every field holds a distinct value that shows (ssthresh set, a retransmission made).
    static let record: SocketRecord = {
        var r = SocketRecord(
            proto: .tcp, family: .inet6, state: .established,
            local: Endpoint(address: .v6(IPv6Address("2001:db8::5")!), port: 22),
            remote: Endpoint(address: .v6(IPv6Address("2001:db8::1")!), port: 51234),
            receiveQueue: 11, sendQueue: 36, uid: 1000, inode: 424_242, cookie: 0xABCD_EF01, interfaceIndex: 7,
            timer: SocketTimer(kind: .retransmit, expiresMilliseconds: 1500, retransmits: 2))
        var info = TCPInfo()
        for (i, field) in TCPInfoField.allCases.enumerated() {
            let n = UInt32(101 + i)
            switch field {
            case .rtt: info.rtt = n * 1000 + 1
            case .rttvar: info.rttvar = n * 1000 + 2
            case .rto: info.rto = n
            case .cwnd: info.cwnd = n
            case .ssthresh: info.ssthresh = n
            case .sendMSS: info.sendMSS = n
            case .receiveMSS: info.receiveMSS = n
            case .unacked: info.unacked = n
            case .lost: info.lost = n
            case .retransmits: info.retransmits = UInt8(n)
            case .totalRetransmits: info.totalRetransmits = n
            case .bytesAcked: info.bytesAcked = UInt64(n)
            case .bytesReceived: info.bytesReceived = UInt64(n)
            case .deliveryRate: info.deliveryRate = UInt64(n)
            }
        }
        r.tcpInfo = info
        var m = SocketMemory()
        m.receiveAllocated = 201
        m.receiveBuffer = 202
        m.sendAllocated = 203
        m.sendBuffer = 204
        m.forwardAllocated = 205
        m.sendQueued = 206
        m.optionMemory = 207
        m.backlog = 208
        m.drops = 209
        r.memory = m
        return r
    }()

    static let all: RecordFormatter.Fields = [.extended, .tcpInfo, .memory]

    /// A value as the formats write it in text (table details aside).
    static func text(_ value: FieldValue) -> String {
        switch value {
        case .number(let n): String(n)
        case .text(let t): t.description
        case .state(let s): s.name
        case .address(let a): a.description
        case .time(let t): TextWriter.string { $0.writeTimestamp(t, fractionDigits: 6) }
        }
    }

    @Test func everyFieldInJSON() throws {
        var w = TextWriter()
        RecordFormatter(fields: Self.all).writeJSON(Self.record, into: &w)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        for field in SocketField.allCases {
            #expect("\(object[field.name.description] ?? "missing")" == Self.text(field.value(in: Self.record)))
        }
        let timer = try #require(object["timer"] as? [String: Any])
        #expect(Set(timer.keys) == Set(TimerField.allCases.map(\.name.description)))
        for field in TimerField.allCases {
            #expect("\(timer[field.name.description]!)" == Self.text(field.value(in: Self.record.timer)))
        }
        let info = try #require(object["tcp_info"] as? [String: Any])
        #expect(Set(info.keys) == Set(TCPInfoField.allCases.map(\.name.description)))
        for field in TCPInfoField.allCases {
            #expect(info[field.name.description] as? UInt64 == field.value(in: Self.record.tcpInfo!), "\(field)")
        }
        let memory = try #require(object["memory"] as? [String: Any])
        #expect(Set(memory.keys) == Set(MemoryField.allCases.map(\.name.description)))
        for field in MemoryField.allCases {
            #expect(memory[field.name.description] as? UInt64 == field.value(in: Self.record.memory!))
        }
        // In the lists' order.
        let text = w.string
        var keys = SocketField.allCases.map(\.name.description) + TimerField.allCases.map(\.name.description)
        keys += TCPInfoField.allCases.map(\.name.description) + MemoryField.allCases.map(\.name.description)
        var at = text.startIndex
        for key in keys {
            let found = try #require(text[at...].range(of: "\"\(key)\":"), "\(key) in order")
            at = found.upperBound
        }
    }

    /// The written-out walks the formats loop over hold every field of the lists, in order.
    @Test func walksHoldEveryField() {
        func walk<F>(_ forEach: ((F) -> Void) -> Void) -> [F] {
            var fields: [F] = []
            forEach { fields.append($0) }
            return fields
        }
        #expect(walk(SocketField.forEach) == SocketField.allCases)
        #expect(walk(TimerField.forEach) == TimerField.allCases)
        #expect(walk(TCPInfoField.forEach) == TCPInfoField.allCases)
        #expect(walk(MemoryField.forEach) == MemoryField.allCases)
    }

    /// A JSON key is its name as a member: after `,`, or opening its object.
    @Test func jsonKeysAreTheNames() {
        func expect(_ key: StaticString, _ name: StaticString, first: String) {
            let member = "\"\(name)\":"
            #expect(key.description == first + member || key.description == "," + member, "\(key)")
        }
        for field in SocketField.allCases { expect(field.jsonKey, field.name, first: "{") }
        for field in TimerField.allCases { expect(field.jsonKey, field.name, first: ",\"timer\":{") }
        for field in TCPInfoField.allCases { expect(field.jsonKey, field.name, first: ",\"tcp_info\":{") }
        for field in MemoryField.allCases { expect(field.jsonKey, field.name, first: ",\"memory\":{") }
    }

    @Test func everyFieldInCSV() {
        let formatter = RecordFormatter(fields: Self.all)
        var w = TextWriter()
        formatter.writeCSVHeader(into: &w)
        formatter.writeCSV(Self.record, into: &w)
        let lines = w.string.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        var expected: [(String, String)] = SocketField.allCases.map {
            ($0.name.description, Self.text($0.value(in: Self.record)))
        }
        expected += TimerField.allCases.map {
            ("timer.\($0.name)", Self.text($0.value(in: Self.record.timer)))
        }
        expected += TCPInfoField.allCases.map {
            ("tcp_info.\($0.name)", String($0.value(in: Self.record.tcpInfo!)!))
        }
        expected += MemoryField.allCases.map { ("memory.\($0.name)", String($0.value(in: Self.record.memory!))) }
        #expect(lines[0].map(String.init) == expected.map(\.0))
        #expect(lines[1].map(String.init) == expected.map(\.1))
    }

    /// The table shows every field its list does not leave out, after the label the list gives it.
    @Test func everyTableFieldInTheTable() {
        var formatter = RecordFormatter(fields: Self.all.union(.netid)) { _ in "eth9" }
        var w = TextWriter()
        formatter.writeRow(Self.record, into: &w)
        let row = w.string
        for field in SocketField.allCases {
            switch field.table {
            case .column:
                // The state shows by its column name (ESTAB), as ss shows it.
                let text = field == .state ? Self.record.state.columnName : Self.text(field.value(in: Self.record))
                #expect(row.contains(text), "\(field): \(row)")
            case .detail(let label, _): #expect(row.contains(label.description), "\(field): \(row)")
            case .omitted: break
            }
        }
        #expect(row.contains(" uid:1000 ino:424242 sk:abcdef01 if:7 timer:(on,1.500s,2)"), "\(row)")
        #expect(row.contains("[2001:db8::5]%eth9:22"), "\(row)")
        #expect(
            row.contains(
                " rtt:101.001/102.002 cwnd:104 ssthresh:105 bytes_acked:112 bytes_received:113 retrans:110/111 "
                    + "delivery_rate 912bps"), "\(row)")
        #expect(row.hasSuffix(" skmem:(r201,rb202,t203,tb204,f205,w206,o207,bl208,d209)\n"), "\(row)")
        // The table's tcp_info order holds every field with a table form, once.
        let shown = TCPInfoField.allCases.filter { if case .detail = $0.table { true } else { false } }
        var tableOrder: [TCPInfoField] = []
        TCPInfoField.forEachInTable { tableOrder.append($0) }
        #expect(Set(tableOrder) == Set(shown) && tableOrder.count == shown.count)
        for field in tableOrder {
            guard case .detail(let label, _) = field.table else { continue }
            #expect(row.contains(label.description), "\(field)")
        }
        for field in MemoryField.allCases {
            guard case .detail(let label, _) = field.table else { continue }
            #expect(row.contains(label.description + String(field.value(in: Self.record.memory!))), "\(field)")
        }
    }
}
