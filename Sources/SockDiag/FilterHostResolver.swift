#if canImport(Glibc)
    import Glibc
#endif

/// Turns a host name in a `src`/`dst` condition into addresses, once, while the filter is parsed.
///
/// `ss` looks a name up with `gethostbyname2` for IPv4 and then IPv6 and tests every address it gets; the
/// parser does the same through this resolver and writes the condition as an `or` of the addresses, so the
/// parsed filter (and its description) no longer holds the name.
public struct HostResolver: Sendable {
    /// Why a name gave no address (`getaddrinfo`'s message: "Name or service not known").
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// The reason, for the parse error.
        public var reason: String

        /// A failure with `reason`.
        public init(_ reason: String) { self.reason = reason }

        public var description: String { reason }
    }

    private let lookUp: @Sendable (String) -> Result<[IPAddress], Failure>

    /// A resolver calling `lookUp` for each name.
    public init(_ lookUp: @escaping @Sendable (String) -> Result<[IPAddress], Failure>) {
        self.lookUp = lookUp
    }

    /// The addresses of `name`: IPv4 ones first, then IPv6 ones, each once, in the order found.
    public func addresses(of name: String) -> Result<[IPAddress], Failure> {
        lookUp(name).map { found in
            var seen = Set<IPAddress>()
            let unique = found.filter { seen.insert($0).inserted }
            return unique.filter { $0.family == .inet } + unique.filter { $0.family == .inet6 }
        }
    }

    /// `getaddrinfo(3)` over both families, as `/etc/nsswitch.conf` says (`/etc/hosts`, then DNS).
    public static let system = HostResolver { name in
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)  // one entry per address, not one per socket type
        var list: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0 else {
            let reason = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            return .failure(Failure(reason))
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var entry = list
        while let info = entry?.pointee {
            entry = info.ai_next
            guard let address = info.ai_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let v4 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self)
                addresses.append(.v4(IPv4Address(UInt32(bigEndian: v4.sin_addr.s_addr))))
            case AF_INET6:
                var v6 = UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self)
                addresses.append(.v6(withUnsafeBytes(of: &v6.sin6_addr) { IPv6Address(networkBytes: $0) }))
            default:
                continue
            }
        }
        return addresses.isEmpty ? .failure(Failure("no IPv4 or IPv6 address")) : .success(addresses)
    }

    /// Names from `entries` only; any other name fails. For tests, and for programs that must not look
    /// names up.
    public static func table(_ entries: [String: [IPAddress]]) -> HostResolver {
        HostResolver { name in
            guard let addresses = entries[name], !addresses.isEmpty else {
                return .failure(Failure("not in the table of names given"))
            }
            return .success(addresses)
        }
    }

    /// Resolves no name: a name in a filter is an error.
    public static let none = HostResolver { _ in .failure(Failure("host names are not resolved here")) }
}
