// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "sockscan",
    products: [
        .library(name: "SockDiag", targets: ["SockDiag"]),
        .library(name: "SockReport", targets: ["SockReport"]),
        .library(name: "SockFormat", targets: ["SockFormat"]),
        .library(name: "SockMetrics", targets: ["SockMetrics"]),
        .library(name: "SockHistory", targets: ["SockHistory"]),
        .executable(name: "sockscan", targets: ["sockscan"]),
        .executable(name: "sockscan-full", targets: ["sockscan-full"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `sockscan serve` and `sockscan metrics`: the Prometheus text exposition and the HTTP server.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // SockDiag's warnings (swift-log) and typed errno values (swift-system's Errno): what an embedding
        // server already uses; neither pulls in Foundation.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // `swift package generate-documentation --target SockDiag` (make docs): the DocC catalog.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CNetlink",
            path: "CNetlink",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("mnl")]
        ),
        .target(
            name: "SockDiag",
            dependencies: [
                "CNetlink",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "SockReport", dependencies: ["SockDiag"]),
        // All presentation: the socket table, NDJSON and CSV, the port and history reports, SVG; writing files.
        .target(name: "SockFormat", dependencies: ["SockDiag", "SockReport"]),
        // Metric families from scans, their exposition (Prometheus text, OpenMetrics), coalesced collection.
        .target(
            name: "SockMetrics",
            dependencies: [
                "SockDiag", "SockReport", "SockFormat", .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The HTTP server of `sockscan serve` (SwiftNIO's HTTP/1.1 codec: no hand-written parser).
        .target(
            name: "SockServe",
            dependencies: [
                "SockMetrics",
                "SockReport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        // The sampler and its SQLite history (record, watch, report): the only target that needs GRDB.
        .target(
            name: "SockHistory",
            dependencies: [
                "SockDiag", "SockReport", "SockFormat", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The scan commands and what every command shares (options, console, the root command's text):
        // ArgumentParser over SockDiag, SockReport and SockFormat, no Foundation, SQLite or SwiftNIO.
        .target(
            name: "SockScanCLI",
            dependencies: [
                "SockDiag", "SockReport", "SockFormat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The commands that record, report and serve (record, watch, report, metrics, serve).
        .target(
            name: "SockScanServiceCLI",
            dependencies: [
                "SockScanCLI", "SockHistory", "SockMetrics", "SockServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // serve: NIO's IOError, to report a bind failure by its errno.
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        // `sockscan`: the scan commands, quick to start; it hands the others to sockscan-full.
        .executableTarget(
            name: "sockscan",
            dependencies: ["SockScanCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // `sockscan-full`: every command (installed beside sockscan or in lib/sockscan/).
        .executableTarget(
            name: "sockscan-full",
            dependencies: [
                "SockScanCLI", "SockScanServiceCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test-only helpers: private network namespaces holding a known socket mix, and `ss` as an oracle.
        .target(
            name: "SockScanTestSupport", dependencies: ["SockDiag", "CNetlink"], path: "Tests/SockScanTestSupport"),
        // Test-only: histories written through the store, and a reader of history files (GRDB).
        .target(
            name: "SockHistoryTestSupport",
            dependencies: [
                "SockHistory", "SockReport", "SockDiag", "SockScanTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/SockHistoryTestSupport"),
        .testTarget(name: "SockDiagTests", dependencies: ["SockDiag", "CNetlink", "SockScanTestSupport"]),
        .testTarget(name: "SockFormatTests", dependencies: ["SockFormat", "SockDiag", "SockScanTestSupport"]),
        .testTarget(name: "SockDiagLiveTests", dependencies: ["SockDiag", "CNetlink", "SockScanTestSupport"]),
        // The CLI as a user runs it: depending on the executables makes `swift build --build-tests` build them.
        // The libraries are there to make fixtures (a history file) and read results (a port report).
        .testTarget(
            name: "sockscanTests",
            dependencies: [
                "sockscan", "sockscan-full", "SockDiag", "SockReport", "SockFormat", "SockHistory",
                "SockScanTestSupport", "SockHistoryTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "SockMetricsTests",
            dependencies: ["SockMetrics", "SockDiag", "SockScanTestSupport"]),
        .testTarget(
            name: "SockServeTests", dependencies: ["SockServe", "SockMetrics", "SockReport", "SockScanTestSupport"]),
        .testTarget(
            name: "SockReportTests",
            dependencies: ["SockReport", "SockFormat", "SockDiag", "CNetlink", "SockScanTestSupport"]),
        .testTarget(
            name: "SockHistoryTests",
            dependencies: [
                "SockHistory", "SockReport", "SockFormat", "SockDiag", "SockScanTestSupport", "SockHistoryTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ]
)
