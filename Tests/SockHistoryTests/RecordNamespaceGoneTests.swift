import Foundation
import SockDiag
import SockHistory
import SockScanTestSupport
import Testing

/// `record --netns PID` once the process has exited: it stops with exit 1 and the reason (the service
/// manager restarts it, and the start names what is missing), the run marked stopped, and no sample taken
/// after the namespace went is written.
@Suite(.serialized) struct RecordNamespaceGoneTests {
    @Test func recordStopsWhenTheNamespaceIsGone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let listener = try namespace.loopbackListener(port: 7301)
        defer { close(listener) }
        let holder = try NamespaceHolder(in: namespace)
        let scratch = try Scratch()
        defer { scratch.remove() }
        let db = scratch.file("gone.db")
        let recorder = try Background([
            "record", "--db", db, "--interval", "50ms", "--full-every", "50ms", "--netns", "\(holder.pid)",
        ])
        defer { _ = try? recorder.stop(SIGKILL) }
        try waitUntil("two samples", timeout: 20) { Peek.sampleCount(db) >= 2 }
        holder.exit()
        try waitUntil("the recorder to stop", timeout: 20) { !recorder.isRunning }
        #expect(try recorder.stop() == 1)
        let reason = "network namespace /proc/\(holder.pid)/ns/net is gone: process \(holder.pid) has exited"
        #expect(recorder.stderr.hasSuffix("sockscan: \(reason)\n"), "\(recorder.stderr)")
        // Every sample written is of the namespace, with its listener.
        let store = try HistoryStore.openForReading(path: db)
        let samples = try store.samples()
        #expect(samples.count >= 2)
        #expect(samples.allSatisfy { $0[.listen] == 1 }, "\(samples.map { $0[.listen] })")
        let runs = try store.runs()
        #expect(runs.count == 1 && runs[0].ended == "stopped", "\(runs)")
    }

    /// `watch` stops the same way.
    @Test func watchStopsWhenTheNamespaceIsGone() throws {
        let namespace = try TestNamespace()
        defer { namespace.close() }
        let holder = try NamespaceHolder(in: namespace)
        let watch = try Background(["watch", "--interval", "50ms", "--netns", "\(holder.pid)"])
        defer { _ = try? watch.stop(SIGKILL) }
        try waitUntil("a row", timeout: 20) { watch.stdout.split(separator: "\n").count >= 2 }
        holder.exit()
        try waitUntil("watch to stop", timeout: 20) { !watch.isRunning }
        #expect(try watch.stop() == 1)
        #expect(watch.stderr.contains("process \(holder.pid) has exited"), "\(watch.stderr)")
    }
}
