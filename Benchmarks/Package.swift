// swift-tools-version:6.1
// Micro-benchmarks of SockDiag on captured dump bytes (ordo-one/benchmark). A package of its own so that the root
// package's `swift build` / `swift test` never build it or fetch its dependencies.
//
//   swift package --package-path Benchmarks benchmark                      run, print throughput and mallocs
//   swift package --package-path Benchmarks benchmark thresholds check     compare mallocs with Thresholds/
import PackageDescription

let package = Package(
    name: "SockScanBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(name: "sockscan", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "SockDiagBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SockDiag", package: "sockscan"),
                .product(name: "SockFormat", package: "sockscan"),
            ],
            path: "Benchmarks/SockDiagBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
