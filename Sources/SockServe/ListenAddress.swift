import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// Where `sockscan serve` listens: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`, `0.0.0.0:9464`.
///
/// The host must be a numeric address (or `localhost`, meaning `127.0.0.1`): listening on every
/// interface is never implied by leaving it out.
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    /// The numeric address, without brackets.
    public var host: String
    public var port: Int

    /// The default: loopback only.
    public static let defaultValue = ListenAddress(host: "127.0.0.1", port: 9464)

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPV6]:PORT`.
    ///
    /// - Throws: ``ListenAddressError`` saying what is wrong and what is expected.
    public init(parsing text: String) throws(ListenAddressError) {
        func fail(_ reason: String) -> ListenAddressError { ListenAddressError(text: text, reason: reason) }
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("no ] after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { throw fail("expected :PORT after ]") }
            portText = rest.dropFirst()
            guard host.contains(":") else { throw fail("brackets are for IPv6 addresses") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("expected HOST:PORT, e.g. 127.0.0.1:9464") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw fail("put an IPv6 address in brackets, e.g. [::1]:9464") }
        }
        if host.isEmpty {
            throw fail("give the address to listen on, e.g. 127.0.0.1:9464 (or 0.0.0.0:9464 for every interface)")
        }
        if host == "localhost" { host = "127.0.0.1" }
        guard !portText.isEmpty, portText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = UInt16(portText)
        else { throw fail("'\(portText)' is not a port number (0-65535)") }
        guard Self.bytes(String(host)) != nil else {
            throw fail("'\(host)' is not a numeric IPv4 or IPv6 address (names other than localhost are not resolved)")
        }
        self.host = String(host)
        self.port = Int(port)
    }

    /// Whether only this machine can connect: 127.0.0.0/8, `::1`, or `::ffff:127.x.y.z`.
    public var isLoopback: Bool {
        guard let bytes = Self.bytes(host) else { return false }
        if bytes.count == 4 { return bytes[0] == 127 }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    /// `127.0.0.1:9464`, `[::1]:9464`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The address's bytes (4 or 16), or nil when it is not a numeric address (`inet_pton`).
    static func bytes(_ host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// A `--listen` value that is not an address to listen on.
public struct ListenAddressError: Error, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid address '\(text)': \(reason)" }
}

extension TimeSpan.Syntax {
    /// How long `sockscan serve` reuses a scan: `1s`, `500ms`, `1.5s`, `2m`, or a bare number of seconds; `0`
    /// keeps nothing (concurrent scrapes still share a scan); at most 24 hours.
    public static let cacheLifetime = TimeSpan.Syntax(
        units: [.milliseconds, .seconds, .minutes], bareNumberIsSeconds: true, allowsZero: true,
        maximum: .seconds(86_400), maximumText: "24h")
}
