import SockFormat
import SockHistoryTestSupport
import SockReport
import Testing

@Suite struct ChartTests {
    @Test func niceScales() {
        let rows = HistoryReport.rows(knownSamples())
        let svg = SVGChart(title: "a & b <c>", timeZone: .utc).render(rows)
        #expect(svg.contains("a &amp; b &lt;c&gt;"))
        // established peaks at 122: the left axis goes to 200 in steps of 40.
        #expect(svg.contains(">200</text>") && svg.contains(">40</text>"))
        // 110 s of samples: ticks every 15 s on the clock, labelled with seconds.
        #expect(svg.contains(">10:00:15</text>") && svg.contains(">10:01:45</text>"))
    }
}
