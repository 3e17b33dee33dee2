#if canImport(Glibc)
    import Glibc
#endif

/// Network device names and indexes of the calling thread's network namespace (``Scanner/interfaceName(_:)``
/// looks them up in the scanned namespace).
public enum NetworkDevices {
    /// A device's name by index (`if_indextoname`), `nil` for no such device.
    @Sendable public static func name(of index: UInt32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        guard if_indextoname(index, &buffer) != nil else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A device's index by name (`if_nametoindex`), `nil` for no such device.
    @Sendable public static func index(of name: String) -> UInt32? {
        let index = if_nametoindex(name)
        return index == 0 ? nil : index
    }

    /// `filter` with every `dev NAME` replaced by its index in `namespace` (the caller's when nil), and
    /// every `dev INDEX` checked to exist there. One thread enters the namespace for all of them.
    ///
    /// - Throws: ``FilterCompileError/unknownDevice(_:)`` for a device the namespace does not have;
    ///   ``NamespaceError`` when the namespace cannot be entered.
    static func resolving(_ filter: Filter, in namespace: NetworkNamespace?) throws -> Filter {
        guard filter.expression.mentionsDevice else { return filter }
        let expression = filter.expression
        let lookUp: @Sendable () -> Result<FilterExpression, FilterCompileError> = {
            Result { () throws(FilterCompileError) in
                try expression.resolvingDevices({ index(of: $0) }, exists: { name(of: $0) != nil })
            }
        }
        return Filter(try (namespace.map { try $0.run(lookUp) } ?? lookUp()).get())
    }
}
