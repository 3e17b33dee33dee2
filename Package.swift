// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "sockscan",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SockDiag", targets: ["SockDiag"]),
        .library(name: "SockReport", targets: ["SockReport"]),
        .library(name: "SockHistory", targets: ["SockHistory"]),
        .executable(name: "sockscan", targets: ["sockscan"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(
            name: "CNetlink",
            path: "CNetlink",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("mnl")]
        ),
        .target(name: "SockDiag", dependencies: ["CNetlink"]),
        .target(name: "SockReport", dependencies: ["SockDiag"]),
        // The sampler and its SQLite history (record, watch, report): the only target that needs GRDB.
        .target(
            name: "SockHistory",
            dependencies: ["SockDiag", "SockReport", .product(name: "GRDB", package: "GRDB.swift")]),
        .executableTarget(
            name: "sockscan",
            dependencies: [
                "SockDiag",
                "SockReport",
                "SockHistory",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test-only helpers: private network namespaces holding a known socket mix, and `ss` as an oracle.
        .target(name: "SockScanTestSupport", dependencies: ["SockDiag", "CNetlink"], path: "Tests/SockScanTestSupport"),
        .testTarget(name: "SockDiagTests", dependencies: ["SockDiag", "CNetlink", "SockScanTestSupport"]),
        .testTarget(name: "SockDiagLiveTests", dependencies: ["SockDiag", "CNetlink", "SockScanTestSupport"]),
        // The CLI as a user runs it: depending on the executable makes `swift build --build-tests` build it.
        .testTarget(name: "sockscanTests", dependencies: ["sockscan", "SockDiag", "SockScanTestSupport"]),
        .testTarget(
            name: "SockReportTests", dependencies: ["SockReport", "SockDiag", "CNetlink", "SockScanTestSupport", "sockscan"]),
        .testTarget(
            name: "SockHistoryTests",
            dependencies: [
                "SockHistory", "SockReport", "SockDiag", "SockScanTestSupport", "sockscan",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ]
)
