import Foundation
import SockDiag
import SockScanTestSupport

/// Makes TIME_WAIT sockets in a test namespace on demand: a listener on 127.0.0.1:`port`, and bursts of
/// connections closed client first (the client ends in TIME_WAIT for 60 s; `tcp_tw_reuse` is 0 there).
final class TimeWaitBurst: @unchecked Sendable {
    let namespace: TestNamespace
    let port: UInt16
    private let listener: Int32
    /// TIME_WAIT sockets made so far.
    private(set) var made = 0

    init(in namespace: TestNamespace, port: UInt16 = 7300) throws {
        self.namespace = namespace
        self.port = port
        listener = try namespace.run { () throws -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw SystemCallError("socket") }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = Self.loopback(port)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0, listen(fd, 512) == 0 else {
                close(fd)
                throw SystemCallError("bind/listen 127.0.0.1:\(port)")
            }
            return fd
        }
    }

    deinit { close(listener) }

    static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    /// Makes `count` more TIME_WAIT sockets and waits (at most 3 s) until the namespace's sockstat shows
    /// every one made so far.
    func burst(_ count: Int) throws {
        let listener = listener
        let port = port
        let want = made + count
        try namespace.run {
            for _ in 0..<count {
                let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                guard client >= 0 else { throw SystemCallError("socket") }
                var address = Self.loopback(port)
                let rc = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard rc == 0 else {
                    close(client)
                    throw SystemCallError("connect 127.0.0.1:\(port)")
                }
                let server = accept(listener, nil, nil)
                guard server >= 0 else {
                    close(client)
                    throw SystemCallError("accept")
                }
                // Client first: it sends FIN (FIN-WAIT), the server's close then ends it in TIME_WAIT.
                close(client)
                var pfd = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
                _ = poll(&pfd, 1, 1000)  // the FIN arrived: the server is in CLOSE_WAIT
                close(server)
            }
            var seen: UInt64 = 0
            for _ in 0..<300 {
                seen = try Sockstat.read(directory: "/proc/thread-self/net").tcpTimeWait
                if seen == UInt64(want) { return }
                usleep(10_000)
            }
            throw CommandError("sockstat shows \(seen) TIME_WAIT sockets, expected \(want)")
        }
        made = want
    }
}
