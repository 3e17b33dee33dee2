import Foundation

/// An HTTP response as the tests read it.
public struct HTTPReply: Sendable {
    /// The status code.
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    /// The body, dechunked, as text.
    public var body: String
}

/// A minimal HTTP/1.1 client over a plain socket to a loopback address, for tests only: one request per
/// connection (`Connection: close`), every read and write bounded by a timeout.
public enum TestHTTP {
    /// A connected TCP socket to `host:port` whose reads and writes time out after `timeout` seconds.
    public static func connect(port: Int, host: String = "127.0.0.1", timeout: Double = 10) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let error = SystemCallError("connect 127.0.0.1:\(port)")
            close(fd)
            throw error
        }
        return fd
    }

    /// Writes all of `text` (no SIGPIPE: a closed peer throws).
    public static func send(_ fd: Int32, _ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw SystemCallError("send") }
            offset += n
        }
    }

    /// Reads until the peer closes (or the timeout set at connect passes: then it throws).
    public static func readAll(_ fd: Int32) throws -> [UInt8] {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return data }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("recv (\(data.count) bytes so far)")
            }
            data += chunk[0..<n]
        }
    }

    /// The text of a request for `path` that asks the server to close after answering.
    public static func request(_ path: String, port: Int, method: String = "GET", headers: [String: String] = [:])
        -> String
    {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return text + "\r\n"
    }

    /// One request on a connection of its own, read to the close.
    public static func get(
        port: Int, path: String, method: String = "GET", headers: [String: String] = [:], timeout: Double = 10
    ) throws -> HTTPReply {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        try send(fd, request(path, port: port, method: method, headers: headers))
        return try parse(try readAll(fd), isHead: method == "HEAD")
    }

    /// A response read whole: status, headers, body (checked against `Content-Length` unless `isHead`).
    public static func parse(_ data: [UInt8], isHead: Bool = false) throws -> HTTPReply {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let split = data.firstRange(of: separator) else {
            throw CommandError("no header end in \(data.count) bytes: \(String(decoding: data, as: UTF8.self))")
        }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusWords = head[0].split(separator: " ")
        guard statusWords.count >= 2, let status = Int(statusWords[1]) else {
            throw CommandError("bad status \(head[0])")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = Array(data[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        if !isHead, let length = headers["content-length"].flatMap({ Int($0) }), length != body.count {
            throw CommandError("Content-Length \(length) but \(body.count) bytes")
        }
        return HTTPReply(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
    }

    /// A chunked body's data.
    public static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = data.startIndex
        let crlf: [UInt8] = [13, 10]
        while true {
            guard let end = data[i...].firstRange(of: crlf) else { throw CommandError("bad chunk size line") }
            let sizeText = String(decoding: data[i..<end.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16) else { throw CommandError("bad chunk size '\(sizeText)'") }
            i = end.upperBound
            if size == 0 { return out }
            guard i + size <= data.endIndex else { throw CommandError("truncated chunk") }
            out += data[i..<(i + size)]
            i += size + 2
        }
    }

    /// A free loopback TCP port (bound and released: another process may take it first, rarely).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        guard rc == 0 else { throw SystemCallError("bind 127.0.0.1:0") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
