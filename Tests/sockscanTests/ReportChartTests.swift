import Foundation
import SockFormat
import SockHistory
import SockReport
import SockHistoryTestSupport
import SockScanTestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Collects what the chart's XML holds: ids of groups, polylines and their points, texts.
final class SVGCollector: NSObject, XMLParserDelegate {
    var root: String?
    var groups: [String] = []
    var polylines: [(group: String, points: Int)] = []
    var texts: [String] = []
    private var currentGroup = ""
    private var inText = false

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if root == nil { root = element }
        switch element {
        case "g":
            currentGroup = attributes["id"] ?? ""
            groups.append(currentGroup)
        case "polyline":
            polylines.append((currentGroup, attributes["points"]?.split(separator: " ").count ?? 0))
        case "text":
            inText = true
            texts.append("")
        default: break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { texts[texts.count - 1] += string }
    }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        if element == "text" { inText = false }
    }
}

/// `report --chart`: the SVG file `sockscan report` writes, parsed back.
@Suite("report --chart") struct ReportChartTests {
    @Test func chartIsWellFormedAndHoldsTheSeries() throws {
        let (scratch, db) = try HistoryFixture.makeHistory()
        defer { scratch.remove() }
        let chart = scratch.file("chart & <tw>.svg")
        let result = try Sockscan.run(["report", "--db", db, "--chart", chart, "--format", "json"])
        #expect(result.status == 0, "\(result)")
        let data = try #require(FileManager.default.contents(atPath: chart))

        let parser = XMLParser(data: data)
        let collector = SVGCollector()
        parser.delegate = collector
        #expect(parser.parse(), "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        #expect(collector.root == "svg")
        for id in [
            "time-wait", "established", "port-utilization", "legend", "axis-time", "labels-left", "labels-right",
        ] {
            #expect(collector.groups.contains(id), "no group \(id)")
        }
        // Twelve samples: one point each for TIME_WAIT and established, one per port scan (2).
        #expect(collector.polylines.first { $0.group == "time-wait" }?.points == 12)
        #expect(collector.polylines.first { $0.group == "established" }?.points == 12)
        #expect(collector.polylines.first { $0.group == "port-utilization" }?.points == 2)
        #expect(collector.texts.contains("TIME_WAIT (tcp-tw)"))
        #expect(collector.texts.contains { $0.hasPrefix("worst port utilization") })
        #expect(collector.texts.contains("100%"), "right axis labels")
        #expect(collector.texts.contains("0"), "left axis labels")
        #expect(collector.texts.filter { $0.contains(":") }.count >= 3, "time labels")
    }

    /// The polylines of each series in the chart `report arguments…` writes.
    static func polylines(_ db: String, _ scratch: Scratch, _ arguments: [String] = []) throws -> [String: [Int]] {
        let chart = scratch.file("gap.svg")
        let result = try Sockscan.run(["report", "--db", db, "--chart", chart, "--format", "csv"] + arguments)
        #expect(result.status == 0, "\(result)")
        let parser = XMLParser(data: try #require(FileManager.default.contents(atPath: chart)))
        let collector = SVGCollector()
        parser.delegate = collector
        #expect(parser.parse())
        return Dictionary(grouping: collector.polylines, by: \.group).mapValues { $0.map(\.points) }
    }

    @Test func aGapInTheHistoryBreaksTheLines() throws {
        let (scratch, db) = try HistoryFixture.makeRestartedHistory()
        defer { scratch.remove() }
        // 24 h without samples between two runs of 6: two lines per series, no point in the gap.
        let perSample = try Self.polylines(db, scratch)
        #expect(perSample["time-wait"] == [6, 6])
        #expect(perSample["established"] == [6, 6])
        #expect(perSample["port-utilization"] == [2, 2])
        let perMinute = try Self.polylines(db, scratch, ["--every", "1m"])
        #expect(perMinute["time-wait"] == [1, 2])
        #expect(perMinute["port-utilization"] == [1, 2])  // a scan in each minute of the second run

        // Without a gap, one line, whatever the interval.
        let (known, knownDB) = try HistoryFixture.makeHistory()
        defer { known.remove() }
        #expect(try Self.polylines(knownDB, known)["time-wait"] == [12])
        #expect(try Self.polylines(knownDB, known, ["--every", "20s"])["time-wait"] == [6])
    }

}
