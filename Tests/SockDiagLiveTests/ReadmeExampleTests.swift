import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// The README's library example and the DocC article's service, built as a user builds them: in a package
/// outside this repository that depends on it by path. The README program then runs inside a namespace with a
/// known socket mix, and what it prints is checked against the mix.
@Suite("README library example", .liveMix(), .serialized)
struct ReadmeExampleTests {
    /// The repository root (this file is Tests/SockDiagLiveTests/ReadmeExampleTests.swift).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The first ```swift block after `heading` in the Markdown file at `path`.
    static func codeBlock(in path: String, after heading: String) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let section = text.range(of: heading),
            let start = text.range(of: "```swift\n", range: section.upperBound..<text.endIndex),
            let end = text.range(of: "\n```", range: start.upperBound..<text.endIndex)
        else { throw CommandError("no ```swift block after '\(heading)' in \(path)") }
        return String(text[start.upperBound..<end.lowerBound]) + "\n"
    }

    /// Writes the outside package (in /tmp, not in the repository) and builds it; returns the README
    /// program's path.
    static func buildOutsidePackage() throws -> String {
        let readme = try codeBlock(in: repository + "/README.md", after: "## Using the library")
        let article = try codeBlock(
            in: repository + "/Sources/SockDiag/SockDiag.docc/EmbeddingInAGateway.md",
            after: "### Prepare once, scan every few seconds")
        let root = "/tmp/sockscan-outside-\(getpid())"
        let files: [String: String] = [
            "Package.swift": """
            // swift-tools-version:6.1
            import PackageDescription

            let package = Package(
                name: "OutsideUser",
                dependencies: [
                    .package(name: "sockscan", path: "\(repository)"),
                    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
                ],
                targets: [
                    .executableTarget(
                        name: "ReadmeExample", dependencies: [.product(name: "SockDiag", package: "sockscan")]),
                    .target(
                        name: "GatewayArticle",
                        dependencies: [
                            .product(name: "SockDiag", package: "sockscan"),
                            .product(name: "Metrics", package: "swift-metrics"),
                        ]),
                ]
            )

            """,
            "Sources/ReadmeExample/UpstreamReport.swift": readme,
            "Sources/GatewayArticle/UpstreamTimeWaitMonitor.swift": article,
        ]
        for (path, text) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A scratch folder of its own under this checkout's .build, kept between runs so a rebuild is quick.
        let scratch = repository + "/.build/outside-package"
        let swift = try Command.locate("swift")
        let result = try Command.run(
            swift, ["build", "--package-path", root, "--scratch-path", scratch], timeout: 900)
        guard result.status == 0 else {
            throw CommandError("the outside package does not build:\n\(result.stdout)\n\(result.stderr)")
        }
        return scratch + "/debug/ReadmeExample"
    }

    @Test(
        "a package outside the repository builds the README example and the article's service by path, and the example prints what the namespace holds"
    )
    func example() throws {
        let program = try Self.buildOutsidePackage()
        let fixture = try LiveFixture.require()  // after the build: a fresh mix whose TIME_WAIT sockets still live
        let result = try Command.run("ip", ["netns", "exec", fixture.namespace.name, program], timeout: 60)
        #expect(result.status == 0, "\(result)")
        let lines = result.lines.map(String.init)

        let tcp = fixture.mix.counts(.tcp)
        let udp = fixture.mix.counts(.udp)
        let total = fixture.mix.expected.count
        let established = (tcp[.established] ?? 0) + (udp[.established] ?? 0)
        #expect(lines.contains("sockets: \(total) established: \(established) time-wait: \(tcp[.timeWait] ?? 0)"))
        #expect(lines.contains { $0.hasPrefix("  idiag_states: 0x0040 [time-wait]") })
        let timeWaitLines = lines.filter { $0.hasPrefix("time-wait to ") }
        #expect(!timeWaitLines.isEmpty)
        #expect(lines.contains("listeners: \(tcp[.listen] ?? 0)"))
        #expect(lines.filter { $0.hasPrefix("listening on ") }.count == tcp[.listen] ?? -1)
        #expect(lines.contains("usage: no network device named 'nosuchdev0' in the scanned namespace"))
    }
}
