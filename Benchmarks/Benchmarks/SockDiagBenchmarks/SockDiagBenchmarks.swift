// Micro-benchmarks of SockDiag's user-space work on a captured dump: parsing, counting, formatting.
//
// The input is Benchmarks/Fixtures/tcp-10k.dump: the datagrams the kernel sent for one one-pass TCP dump
// (`floor --capture`) of a namespace holding 10,000 sockets (9,000 established, 900 TIME_WAIT, 100 listeners;
// 8,100 IPv4 and 1,000 IPv6 in use). One iteration handles the whole dump, so throughput × 10,000 is records
// per second. The kernel's side (walking the hash, building messages) is not here: see BENCHMARKS.md.
//
// Only `mallocCountTotal` is gated (Thresholds/): it is deterministic. Time and throughput are for reading.

import Benchmark
@_spi(Benchmarks) import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

/// The captured dump and the sequence number and port id its messages carry.
struct Fixture {
    let bytes: UnsafeRawBufferPointer
    let sequence: UInt32
    let portID: UInt32
    let records: Int

    /// Reads `Fixtures/NAME` of the benchmark package (found from this file's path: no Foundation needed).
    init(_ name: String) {
        let here = "\(#filePath)"
        let packageRoot = here.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
            .joined(separator: "/")
        let path = packageRoot + "/Fixtures/" + name
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open \(path): errno \(errno)")
        var st = stat()
        precondition(fstat(fd, &st) == 0)
        let size = Int(st.st_size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        var done = 0
        while done < size {
            let n = read(fd, buffer.baseAddress! + done, size - done)
            precondition(n > 0, "short read of \(path)")
            done += n
        }
        close(fd)
        bytes = UnsafeRawBufferPointer(buffer)
        // struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32; every message carries the same.
        sequence = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        portID = bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
        var n = 0
        _ = try! InetDiagDump.parse(bytes, sequence: sequence, portID: portID) { _ in n += 1 }
        records = n
    }

    func forEach(_ body: (SocketRecord) -> Void) {
        _ = try! InetDiagDump.parse(bytes, sequence: sequence, portID: portID) { body($0) }
    }
}

let benchmarks: @Sendable () -> Void = {
    let fixture = Fixture("tcp-10k.dump")
    precondition(fixture.records == 10_000, "tcp-10k.dump holds \(fixture.records) records")

    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(1),
        maxIterations: 1_000,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0])]
    )

    // The netlink walk and struct inet_diag_msg into SocketRecord values, nothing else.
    Benchmark("parse-10k") { benchmark in
        for _ in benchmark.scaledIterations {
            var ports: UInt64 = 0
            fixture.forEach { ports &+= UInt64($0.local.port) }
            blackHole(ports)
        }
    }

    // What `sockscan count -ta` does per record.
    Benchmark("countByState-10k") { benchmark in
        for _ in benchmark.scaledIterations {
            var counts = StateCounts()
            fixture.forEach { counts.add($0.state) }
            blackHole(counts)
        }
    }

    let records: [SocketRecord] = {
        var all: [SocketRecord] = []
        all.reserveCapacity(fixture.records)
        fixture.forEach { all.append($0) }
        return all
    }()

    // Formatting alone, on records parsed beforehand, into a writer that is reused (cleared, capacity kept) as
    // `sockscan list` reuses its 64 KiB buffer between flushes.
    Benchmark("writeJSON-10k") { benchmark in
        let formatter = RecordFormatter()
        var out = TextWriter(capacity: 65536)
        var bytes = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for record in records {
                formatter.writeJSON(record, into: &out)
                if out.count >= 60000 {
                    bytes += out.count
                    out.removeAll()
                }
            }
        }
        blackHole(bytes + out.count)
    }

    Benchmark("writeRow-10k") { benchmark in
        var formatter = RecordFormatter()
        var out = TextWriter(capacity: 65536)
        var bytes = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for record in records {
                formatter.writeRow(record, into: &out)
                if out.count >= 60000 {
                    bytes += out.count
                    out.removeAll()
                }
            }
        }
        blackHole(bytes + out.count)
    }

    // `sockscan list -ta --format json` without the kernel and the write(2) calls: parse, format, clear.
    Benchmark("parse+writeJSON-10k") { benchmark in
        let formatter = RecordFormatter()
        var out = TextWriter(capacity: 65536)
        var bytes = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            fixture.forEach { record in
                formatter.writeJSON(record, into: &out)
                if out.count >= 60000 {
                    bytes += out.count
                    out.removeAll()
                }
            }
        }
        blackHole(bytes + out.count)
    }
}
