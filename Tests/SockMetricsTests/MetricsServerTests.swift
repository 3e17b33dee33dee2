import Foundation
import SockMetrics
import SockScanTestSupport
import SockServe
import Testing

/// A ``MetricsServer`` in this process, over an exporter whose collections the test controls.
final class InProcessServer: @unchecked Sendable {
    let server: MetricsServer
    let exporter: MetricsExporter
    var port: Int { server.address.port ?? 0 }

    /// - Parameter collect: runs on the exporter's collecting thread for each collection.
    init(maxAge: Duration = .zero, collect: @escaping () throws -> SocketSnapshot) throws {
        exporter = try MetricsExporter(top: 0, maxAge: maxAge, version: "test", collect: collect)
        do {
            server = try MetricsServer(host: "127.0.0.1", port: 0, exporter: exporter)
        } catch {
            exporter.shutdown()
            throw error
        }
    }

    func get(_ path: String) throws -> HTTPReply { try TestHTTP.get(port: port, path: path, timeout: 5) }
}

/// What this process writes to fd 2 while it is captured; written through to the real stderr afterwards.
final class StderrCapture {
    private let saved: Int32
    private let path: String

    init() throws {
        var template = Array("/tmp/sockscan-stderr-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError("mkstemp") }
        defer { close(fd) }
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        saved = dup(2)
        guard saved >= 0, dup2(fd, 2) >= 0 else { throw SystemCallError("dup2 stderr") }
    }

    /// Restores stderr and returns what was written meanwhile.
    func finish() -> String {
        dup2(saved, 2)
        close(saved)
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        unlink(path)
        FileHandle.standardError.write(Data(text.utf8))
        return text
    }
}

@Suite("MetricsServer in process")
struct MetricsServerTests {
    /// Shutdown while a scan runs longer than the grace period and a scrape waits for it: the scrape
    /// gets its answer, then the loop stops; no completion reaches a dead event loop (NIO reports that
    /// on stderr, and says it will become a crash).
    @Test func shutdownDuringAScanAnswersTheWaitingScrape() throws {
        let gate = Gate()
        let served = try InProcessServer {
            gate.pass()
            return SocketSnapshot()
        }
        let fd = try TestHTTP.connect(port: served.port, timeout: 10)
        defer { close(fd) }
        try TestHTTP.send(fd, TestHTTP.request("/metrics", port: served.port))
        #expect(gate.waitForArrivals(1))

        let capture = try StderrCapture()
        // The scan ends while shutdown is under way, after the grace period.
        Thread.detachNewThread {
            usleep(500_000)
            gate.release()
        }
        served.server.shutdown(grace: .milliseconds(100))
        let stderr = capture.finish()
        #expect(!stderr.contains("Cannot schedule tasks"), "\(stderr)")
        let reply = try TestHTTP.parse(try TestHTTP.readAll(fd))
        #expect(reply.status == 200)
        #expect(reply.body.contains("sockscan_build_info"))
    }

    /// `/healthz` follows the last collection: ok before any, 503 with the error after a failure, ok again
    /// after a success.
    @Test func healthzReflectsTheLastCollection() throws {
        nonisolated(unsafe) var fail = true
        let served = try InProcessServer {
            if fail { throw ScanFailure() }
            return SocketSnapshot()
        }
        defer { served.server.shutdown() }
        let first = try served.get("/healthz")
        #expect(first.status == 200 && first.body == "ok\n")
        #expect(try served.get("/metrics").status == 500)
        let failing = try served.get("/healthz")
        #expect(failing.status == 503)
        #expect(failing.body == "sockscan: last scan failed: sock_diag: Operation not permitted\n")
        fail = false
        #expect(try served.get("/metrics").status == 200)
        let healed = try served.get("/healthz")
        #expect(healed.status == 200 && healed.body == "ok\n")
    }
}

struct ScanFailure: Error, CustomStringConvertible {
    var description: String { "sock_diag: Operation not permitted" }
}
