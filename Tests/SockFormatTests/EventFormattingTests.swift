import Foundation
import Testing

import SockDiag

@testable import SockFormat

/// Destroy events (`sockscan events`) through the one field table: `event` and `time` before the socket's
/// fields in NDJSON and CSV, a time column before the table row; RFC 3339 times.
@Suite("Event formatting")
struct EventFormattingTests {
    /// A client socket destroyed at 2026-05-01T14:25:03.123456Z.
    static let event = SocketEvent(
        time: .seconds(1_777_645_503) + .microseconds(123_456),
        socket: SocketRecord(
            proto: .tcp, family: .inet, state: .close,
            local: Endpoint(address: .v4(IPv4Address(10, 0, 0, 5)), port: 51234),
            remote: Endpoint(address: .v4(IPv4Address(10, 0, 0, 9)), port: 443),
            receiveQueue: 1, sendQueue: 0, uid: 0, inode: 0, cookie: 77, interfaceIndex: 0))

    @Test func eventFieldsAreWalkedInOrder() {
        var walked: [EventField] = []
        EventField.forEach { walked.append($0) }
        #expect(walked == EventField.allCases)
        #expect(EventField.allCases.map(\.name.description) == ["event", "time"])
        #expect(EventField.event.jsonKey.description == "{\"event\":")
        #expect(EventField.time.jsonKey.description == ",\"time\":")
        // After an event's members the socket's first key continues the object; the others are unchanged.
        for field in SocketField.allCases {
            let expected = field == .proto ? ",\"proto\":" : field.jsonKey.description
            #expect(field.jsonKeyAfterMembers.description == expected)
        }
    }

    @Test("NDJSON: event and time, then exactly the members list writes for the socket")
    func json() throws {
        var socketOnly = TextWriter()
        RecordFormatter(fields: [.event]).writeJSON(Self.event.socket, into: &socketOnly)
        var w = TextWriter()
        RecordFormatter(fields: [.event]).writeJSON(Self.event, into: &w)
        #expect(
            w.string
                == "{\"event\":\"destroy\",\"time\":\"2026-05-01T14:25:03.123456Z\","
                + socketOnly.string.dropFirst())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        #expect(object["local_port"] as? Int == 51234)
    }

    @Test("CSV: event,time columns, then list's")
    func csv() {
        let formatter = RecordFormatter(fields: [.event])
        #expect(Array(formatter.csvColumns.prefix(3)) == ["event", "time", "proto"])
        #expect(RecordFormatter(fields: []).csvColumns.first == "proto")
        var w = TextWriter()
        formatter.writeCSV(Self.event, into: &w)
        #expect(
            w.string == "destroy,2026-05-01T14:25:03.123456Z,tcp,inet,close,10.0.0.5,51234,10.0.0.9,443,1,0,0,0,77,0\n")
    }

    @Test("table: a Time column in local time, then the row list writes")
    func table() {
        var formatter = RecordFormatter(fields: [.event])
        var header = TextWriter()
        formatter.writeHeader(into: &header)
        #expect(header.string.hasPrefix("Time            State "))
        var w = TextWriter()
        formatter.writeRow(Self.event, into: &w)
        var plain = RecordFormatter(fields: [])
        var row = TextWriter()
        plain.writeRow(Self.event.socket, into: &row)
        var seconds = time_t(1_777_645_503)
        var local = tm()
        localtime_r(&seconds, &local)
        let clock = String(format: "%02d:%02d:%02d.123456 ", local.tm_hour, local.tm_min, local.tm_sec)
        #expect(w.string == clock + row.string)
    }

    @Test(
        "RFC 3339 UTC timestamps, rounded down, before 1970 too",
        arguments: [
            (Duration.zero, 6, "1970-01-01T00:00:00.000000Z"),
            (.seconds(951_782_400), 3, "2000-02-29T00:00:00.000Z"),
            (.seconds(4_102_444_799) + .nanoseconds(999_999_999), 6, "2099-12-31T23:59:59.999999Z"),
            (.milliseconds(-500), 3, "1969-12-31T23:59:59.500Z"),
            (.seconds(1_777_645_503), 0, "2026-05-01T14:25:03Z"),
        ])
    func timestamps(time: Duration, digits: Int, expected: String) {
        #expect(TextWriter.string { $0.writeTimestamp(time, fractionDigits: digits) } == expected)
    }
}
