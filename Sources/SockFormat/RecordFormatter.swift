import SockDiag
import SockReport

#if canImport(Glibc)
    import Glibc
#endif

/// Formats records as `ss`-style table rows or NDJSON into a ``TextWriter``, allocating nothing per record.
public struct RecordFormatter {
    /// What to include beyond the base fields.
    public struct Fields: OptionSet, Hashable, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Table: uid, inode, cookie, interface, timer (JSON always has the first four).
        public static let extended = Fields(rawValue: 1)
        /// `tcp_info` where the record has it.
        public static let tcpInfo = Fields(rawValue: 2)
        /// Memory where the record has it.
        public static let memory = Fields(rawValue: 4)
        /// A `Netid` column (tcp/udp) in the table.
        public static let netid = Fields(rawValue: 8)
        /// The owning processes (from a ``ProcessTable``): `users:(…)` in the table, `process` in JSON,
        /// `pid comm fd` in CSV.
        public static let processes = Fields(rawValue: 16)
        /// Events (``SocketEvent``, `sockscan events`): the table's first column is the time (local time of
        /// day, `Time`); JSON and CSV start with `event` and `time` (``EventField``).
        public static let event = Fields(rawValue: 32)
    }

    public var fields: Fields
    /// Names interface indexes for the table's `%name`; interface indexes belong to a namespace, so a
    /// scan of another namespace must look them up there (``Scanner/interfaceName(_:)``). Default: the
    /// caller's namespace.
    public var lookUpInterface: (UInt32) -> String?
    private var interfaceNames: [UInt32: String] = [:]

    public init(fields: Fields = [], lookUpInterface: @escaping (UInt32) -> String? = NetworkDevices.name(of:)) {
        self.fields = fields
        self.lookUpInterface = lookUpInterface
    }

    /// The fields that add details after the peer column (`-e`, `-i`, `-m`).
    static let details: Fields = [.extended, .tcpInfo, .memory]

    /// Column widths of the table; wider values push the row right, as in `ss`.
    static let stateWidth = 11
    static let queueWidth = 7
    static let addressWidth = 24
    /// The table's `Time` column: `14:25:03.123456`, and a space.
    static let timeWidth = 16

    /// Writes the table header line.
    public func writeHeader(into out: inout TextWriter) {
        if fields.contains(.event) { column("Time", Self.timeWidth, &out) }
        if fields.contains(.netid) { column("Netid", 6, &out) }
        column("State", Self.stateWidth, &out)
        column("Recv-Q", Self.queueWidth, &out, right: true)
        out.write(byte: UInt8(ascii: " "))
        column("Send-Q", Self.queueWidth, &out, right: true)
        out.write(byte: UInt8(ascii: " "))
        column("Local Address:Port", Self.addressWidth, &out)
        out.write(byte: UInt8(ascii: " "))
        if !fields.isDisjoint(with: Self.details) {
            column("Peer Address:Port", Self.addressWidth, &out)
            out.write(" Details")
        } else if fields.contains(.processes) {
            column("Peer Address:Port", Self.addressWidth, &out)
            out.write(" Process")
        } else {
            out.write("Peer Address:Port")
        }
        out.write(byte: UInt8(ascii: "\n"))
    }

    private func column(_ text: StaticString, _ width: Int, _ out: inout TextWriter, right: Bool = false) {
        if right { out.pad(width - text.utf8CodeUnitCount) }
        out.write(text)
        if !right { out.pad(width - text.utf8CodeUnitCount) }
    }

    /// Writes one table row, like a line of `ss -tan` (numeric, never resolving names).
    ///
    /// - Parameter owners: with ``Fields/processes``, where the owners are looked up: a socket with owners
    ///   gets `users:(("comm",pid=N,fd=M),…)` after the peer, as in `ss -p`.
    public mutating func writeRow(_ r: SocketRecord, owners: ProcessTable? = nil, into out: inout TextWriter) {
        let shown = fields.contains(.processes) ? owners?.firstOwner(of: r.inode) : nil
        // Details line up under their header; a row with none has no trailing spaces.
        let padPeer =
            fields.contains(.extended) || shown != nil || (fields.contains(.tcpInfo) && r.tcpInfo != nil)
            || (fields.contains(.memory) && r.memory != nil)
        // A dual-stack IPv6 socket (not v6-only) bound to :: takes IPv4 too: `*`, as ss prints it.
        let dualStack = r.v6Only == false
        let localInterface = r.interfaceIndex == 0 ? nil : interfaceName(r.interfaceIndex)
        let details = shown == nil
        // Bounded pieces as in writeJSON: the columns (at most 145 bytes) and, unless owners come between, the
        // details (extended ~120, tcp_info ~230, memory ~140) in one piece. The name of a bound device (any
        // length) is appended between two pieces: the local column is padded counting it.
        let rowStart = out.count
        var localOffset = 0
        out.append(maxCount: 1024) { c in
            var start = c.count
            if fields.contains(.netid) {
                c.text(r.proto == .tcp ? "tcp" as StaticString : "udp")
                c.pad(6 - (c.count - start))
            }
            start = c.count
            c.text(r.state.staticColumnName)
            c.pad(Self.stateWidth - (c.count - start))
            Self.writeRight(UInt64(r.receiveQueue), Self.queueWidth, &c)
            c.byte(UInt8(ascii: " "))
            Self.writeRight(UInt64(r.sendQueue), Self.queueWidth, &c)
            c.byte(UInt8(ascii: " "))
            localOffset = c.count
            Self.writeHost(r.local.address, star: dualStack, &c)
            if localInterface != nil {
                c.byte(UInt8(ascii: "%"))
            } else {
                writeRowRest(r, localStart: localOffset, star: dualStack, padPeer: padPeer, details: details, &c)
            }
        }
        if let localInterface {
            out.write(localInterface)
            let localSoFar = out.count - (rowStart + localOffset)
            out.append(maxCount: 1024) { c in
                writeRowRest(r, localStart: -localSoFar, star: dualStack, padPeer: padPeer, details: details, &c)
            }
        }
        if shown != nil, let owners {
            out.write(" users:(" as StaticString)
            var separator = false
            owners.forEachOwner(of: r.inode) { owner in
                if separator { out.write(byte: UInt8(ascii: ",")) }
                separator = true
                out.write("(\"" as StaticString)
                out.writeTableText(owner.comm)  // one line, whatever the name holds
                out.write("\",pid=" as StaticString)
                out.write(signed: Int64(owner.pid))
                out.write(",fd=" as StaticString)
                out.write(signed: Int64(owner.fd))
                out.write(byte: UInt8(ascii: ")"))
            }
            out.write(byte: UInt8(ascii: ")"))
            out.append(maxCount: 1024) { c in writeDetails(r, &c) }
        }
    }

    /// Writes one event as a table row: its time (local time of day, to the microsecond), then the socket as
    /// ``writeRow(_:owners:into:)`` writes it.
    public mutating func writeRow(_ event: SocketEvent, into out: inout TextWriter) {
        let (seconds, nanoseconds) = ByteCursor.split(event.time)
        let local = ReportTimeZone.system.calendarTime(Double(seconds))
        out.append(maxCount: Self.timeWidth + 8) { c in
            let start = c.count
            c.clock(local, nanoseconds: nanoseconds, fractionDigits: 6)
            c.pad(Self.timeWidth - (c.count - start))
        }
        writeRow(event.socket, into: &out)
    }

    /// The row from the local port on: `:port`, the local column's padding (`localStart` is where the local
    /// address began in `c`, negative when earlier pieces hold part of it), the peer, and with `details` the
    /// details and the newline.
    private func writeRowRest(
        _ r: SocketRecord, localStart: Int, star: Bool, padPeer: Bool, details: Bool, _ c: inout ByteCursor
    ) {
        Self.writePort(r.local.port, &c)
        c.pad(Self.addressWidth - (c.count - localStart))
        c.byte(UInt8(ascii: " "))
        let start = c.count
        Self.writeHost(r.remote.address, star: star, &c)
        Self.writePort(r.remote.port, &c)
        if padPeer { c.pad(Self.addressWidth - (c.count - start)) }
        if details { writeDetails(r, &c) }
    }

    /// The details after the peer (and its owners): extended fields, tcp_info, memory, then the newline; each
    /// group as its field list (``SocketField``, ``TimerField``, ``TCPInfoField``, ``MemoryField``) says.
    private func writeDetails(_ r: SocketRecord, _ c: inout ByteCursor) {
        if fields.contains(.extended) {
            SocketField.forEach { field in
                guard case .detail(let label, let unit) = field.table else { return }
                if field == .interface && r.interfaceIndex == 0 { return }
                Self.writeDetail(label, unit, field.value(in: r), &c)
            }
            if r.timer.kind != .none {
                TimerField.forEach { field in
                    guard case .detail(let label, let unit) = field.table else { return }
                    Self.writeDetail(label, unit, field.value(in: r.timer), &c)
                }
                c.byte(UInt8(ascii: ")"))
            }
        }
        if fields.contains(.tcpInfo), let info = r.tcpInfo {
            TCPInfoField.forEachInTable { field in
                guard field.isShownInTable(info), case .detail(let label, let unit) = field.table,
                    let value = field.value(in: info)
                else { return }
                Self.writeDetail(label, unit, .number(value), &c)
            }
        }
        if fields.contains(.memory), let m = r.memory {
            MemoryField.forEach { field in
                guard case .detail(let label, let unit) = field.table else { return }
                Self.writeDetail(label, unit, .number(field.value(in: m)), &c)
            }
            c.byte(UInt8(ascii: ")"))
        }
        c.byte(UInt8(ascii: "\n"))
    }

    /// One detail: its label, then its value as `unit` says.
    @inline(__always)
    private static func writeDetail(
        _ label: StaticString, _ unit: TableUnit, _ value: FieldValue, _ c: inout ByteCursor
    ) {
        c.text(label)
        switch (unit, value) {
        case (.decimal, .number(let n)): c.decimal(n)
        case (.hexadecimal, .number(let n)): c.hex(n)
        case (.thousandths(let suffix), .number(let n)):
            c.thousandths(n)
            c.text(suffix)
        case (.bitRate, .number(let n)):
            c.bitRate(n)
            c.text("bps")
        default: writeText(value, &c)
        }
    }

    /// A value as text, without quotes.
    @inline(__always)
    private static func writeText(_ value: FieldValue, _ c: inout ByteCursor) {
        switch value {
        case .number(let n): c.decimal(n)
        case .text(let text): c.text(text)
        case .state(let state):
            if let name = state.staticName { c.text(name) } else { c.text(string: state.name) }
        case .address(let address): c.address(address)
        case .time(let time): c.timestamp(time, fractionDigits: 6)
        }
    }

    /// A value as JSON: numbers as they are, the rest as strings (none needs escaping).
    @inline(__always)
    private static func writeJSONValue(_ value: FieldValue, _ c: inout ByteCursor) {
        if case .number(let n) = value { return c.decimal(n) }
        c.byte(UInt8(ascii: "\""))
        writeText(value, &c)
        c.byte(UInt8(ascii: "\""))
    }

    private static func writeRight(_ value: UInt64, _ width: Int, _ c: inout ByteCursor) {
        c.pad(width - ByteCursor.digitCount(value))
        c.decimal(value)
    }

    /// `ss -n` style: `0.0.0.0`, `[::1]`; with `star`, the IPv6 unspecified address as `*`.
    private static func writeHost(_ address: IPAddress, star: Bool, _ c: inout ByteCursor) {
        switch address {
        case .v4(let a): c.address(a)
        case .v6(let a) where star && a == .any:
            c.byte(UInt8(ascii: "*"))
        case .v6(let a):
            c.byte(UInt8(ascii: "["))
            c.address(a)
            c.byte(UInt8(ascii: "]"))
        }
    }

    /// `:port`, port 0 as `:*` (a bound device's `%name` comes before it).
    private static func writePort(_ port: UInt16, _ c: inout ByteCursor) {
        c.byte(UInt8(ascii: ":"))
        if port == 0 {
            c.byte(UInt8(ascii: "*"))
        } else {
            c.decimal(UInt64(port))
        }
    }

    private mutating func interfaceName(_ index: UInt32) -> String {
        if let name = interfaceNames[index] { return name }
        let name = lookUpInterface(index) ?? String(index)
        interfaceNames[index] = name
        return name
    }

    /// Writes one record as a JSON object and a newline (NDJSON), with the fields of the CLI contract:
    /// `proto family state local_address local_port remote_address remote_port recv_q send_q uid inode
    /// cookie interface`, then `timer`, and `tcp_info` / `memory` when asked for and present.
    ///
    /// - Parameter owners: with ``Fields/processes``, where the owners are looked up: `process` is an
    ///   object `{"pid","comm","fd"}` for one owner, an array of them for several, absent for none.
    public func writeJSON(_ r: SocketRecord, owners: ProcessTable? = nil, into out: inout TextWriter) {
        writeJSON(r, event: nil, owners: owners, into: &out)
    }

    /// Writes one event as a JSON object and a newline (NDJSON): `event` and `time` (RFC 3339 UTC with
    /// microseconds), then the socket's members as ``writeJSON(_:owners:into:)`` writes them.
    public func writeJSON(_ event: SocketEvent, into out: inout TextWriter) {
        writeJSON(event.socket, event: event, owners: nil, into: &out)
    }

    /// A socket's JSON object, after the members of `event` when there is one.
    private func writeJSON(
        _ r: SocketRecord, event: SocketEvent?, owners: ProcessTable?, into out: inout TextWriter
    ) {
        let info = fields.contains(.tcpInfo) ? r.tcpInfo : nil
        let memory = fields.contains(.memory) ? r.memory : nil
        let owned = fields.contains(.processes) && owners?.firstOwner(of: r.inode) != nil
        // Bounded pieces formatted on the stack and appended at once: an event's members (at most 67 bytes), the
        // base object with tcp_info (at most 421 + 360 bytes), then memory (209); the closing brace goes with the
        // last piece unless owners follow.
        out.append(maxCount: 1024) { c in
            if let event {
                EventField.forEach { field in
                    c.text(field.jsonKey)
                    Self.writeJSONValue(field.value(in: event), &c)
                }
            }
            let continued = event != nil
            SocketField.forEach { field in
                c.text(continued ? field.jsonKeyAfterMembers : field.jsonKey)
                Self.writeJSONValue(field.value(in: r), &c)
            }
            TimerField.forEach { field in
                c.text(field.jsonKey)
                Self.writeJSONValue(field.value(in: r.timer), &c)
            }
            c.byte(UInt8(ascii: "}"))
            if let i = info {
                TCPInfoField.forEach { field in
                    c.text(field.jsonKey)
                    if let value = field.value(in: i) { c.decimal(value) } else { c.text("null") }
                }
                c.byte(UInt8(ascii: "}"))
            }
            if memory == nil && !owned { c.text("}\n") }
        }
        if let m = memory {
            out.append(maxCount: 512) { c in
                MemoryField.forEach { field in
                    c.text(field.jsonKey)
                    c.decimal(field.value(in: m))
                }
                c.byte(UInt8(ascii: "}"))
                if !owned { c.text("}\n") }
            }
        }
        if owned, let owners {
            let shared = owners.isShared(r.inode)
            out.write(shared ? ",\"process\":[" as StaticString : ",\"process\":")
            var separator = false
            owners.forEachOwner(of: r.inode) { owner in
                if separator { out.write(byte: UInt8(ascii: ",")) }
                separator = true
                out.write("{\"pid\":" as StaticString)
                out.write(signed: Int64(owner.pid))
                out.write(",\"comm\":" as StaticString)
                out.writeJSONString(owner.comm)
                out.write(",\"fd\":" as StaticString)
                out.write(signed: Int64(owner.fd))
                out.write(byte: UInt8(ascii: "}"))
            }
            if shared { out.write(byte: UInt8(ascii: "]")) }
            out.write("}\n" as StaticString)
        }
    }

    /// Writes the CSV header line: the names of the columns ``writeCSV(_:owners:into:)`` writes.
    public func writeCSVHeader(into out: inout TextWriter) {
        var first = true
        for name in csvColumns {
            if !first { out.write(byte: UInt8(ascii: ",")) }
            first = false
            out.write(name)
        }
        out.write(byte: UInt8(ascii: "\n"))
    }

    /// The CSV columns for these fields: JSON's flat fields, then, with ``Fields/extended``, the timer, with
    /// ``Fields/tcpInfo`` and ``Fields/memory`` the JSON objects flattened (`tcp_info.rtt_us`), with
    /// ``Fields/processes`` `pid comm fd`.
    public var csvColumns: [String] {
        var names = fields.contains(.event) ? EventField.allCases.map { $0.name.description } : []
        names += SocketField.allCases.map { $0.name.description }
        if fields.contains(.extended) { names += TimerField.allCases.map { "timer.\($0.name)" } }
        if fields.contains(.tcpInfo) { names += TCPInfoField.allCases.map { "tcp_info.\($0.name)" } }
        if fields.contains(.memory) { names += MemoryField.allCases.map { "memory.\($0.name)" } }
        if fields.contains(.processes) { names += ["pid", "comm", "fd"] }
        return names
    }

    /// Writes one record as a CSV line (RFC 4180 quoting, `\n` line ends), the columns of ``csvColumns``.
    ///
    /// Values a socket does not have (`tcp_info` of a UDP socket, the owner of a TIME_WAIT socket) are
    /// empty. A socket held by several descriptors lists them in `pid`, `comm` and `fd`, separated by `;`,
    /// in the same order.
    public func writeCSV(_ r: SocketRecord, owners: ProcessTable? = nil, into out: inout TextWriter) {
        writeCSV(r, event: nil, owners: owners, into: &out)
    }

    /// Writes one event as a CSV line: `event` and `time` (RFC 3339 UTC with microseconds), then the socket's
    /// columns as ``writeCSV(_:owners:into:)`` writes them.
    public func writeCSV(_ event: SocketEvent, into out: inout TextWriter) {
        writeCSV(event.socket, event: event, owners: nil, into: &out)
    }

    /// A socket's CSV line, after the columns of `event` when there is one.
    private func writeCSV(_ r: SocketRecord, event: SocketEvent?, owners: ProcessTable?, into out: inout TextWriter) {
        let comma = UInt8(ascii: ",")
        let owned = fields.contains(.processes) && owners?.firstOwner(of: r.inode) != nil
        // One bounded piece (at most ~550 bytes, an event's columns ~40 more) as in writeJSON; the owners' names
        // (any length) stay on the writer.
        out.append(maxCount: 1024) { c in
            if let event {
                EventField.forEach { field in
                    Self.writeText(field.value(in: event), &c)
                    c.byte(comma)
                }
            }
            SocketField.forEach { field in
                if field != .proto { c.byte(comma) }
                Self.writeText(field.value(in: r), &c)
            }
            if fields.contains(.extended) {
                TimerField.forEach { field in
                    c.byte(comma)
                    Self.writeText(field.value(in: r.timer), &c)
                }
            }
            if fields.contains(.tcpInfo) {
                if let i = r.tcpInfo {
                    TCPInfoField.forEach { field in
                        c.byte(comma)
                        // A value not set (ssthresh "infinite"): empty.
                        if let value = field.value(in: i) { c.decimal(value) }
                    }
                } else {
                    TCPInfoField.forEach { _ in c.byte(comma) }
                }
            }
            if fields.contains(.memory) {
                if let m = r.memory {
                    MemoryField.forEach { field in
                        c.byte(comma)
                        c.decimal(field.value(in: m))
                    }
                } else {
                    MemoryField.forEach { _ in c.byte(comma) }
                }
            }
            if fields.contains(.processes) && !owned { c.pad(3, comma) }
            if !owned { c.byte(UInt8(ascii: "\n")) }
        }
        if owned, let owners {
            out.write(byte: comma)
            var separator = false
            owners.forEachOwner(of: r.inode) { owner in
                if separator { out.write(byte: UInt8(ascii: ";")) }
                separator = true
                out.write(signed: Int64(owner.pid))
            }
            out.write(byte: comma)
            if owners.isShared(r.inode) {
                var joined = ""
                owners.forEachOwner(of: r.inode) { owner in
                    if !joined.isEmpty { joined += ";" }
                    joined += owner.comm
                }
                out.writeCSVField(joined)
            } else {
                out.writeCSVField(owners.firstOwner(of: r.inode)!.comm)
            }
            out.write(byte: comma)
            separator = false
            owners.forEachOwner(of: r.inode) { owner in
                if separator { out.write(byte: UInt8(ascii: ";")) }
                separator = true
                out.write(signed: Int64(owner.fd))
            }
            out.write(byte: UInt8(ascii: "\n"))
        }
    }
}

extension TextWriter {
    /// Appends bits per second as `ss` does (its `sprint_bw`): below 1000 as is, else three significant
    /// digits (`%.3g`) and `k`, `M`, `G` or `T` (`8k`, `6.61G`, `124G`). No allocation.
    mutating func writeBitRate(_ bps: UInt64) {
        append(maxCount: ByteCursor.maxBitRate) { $0.bitRate(bps) }
    }
}

extension ByteCursor {
    /// Longest ``bitRate(_:)``: `18446744T` (`UInt64.max` bits per second).
    static let maxBitRate = 24

    /// Bits per second as `ss` prints them (``TextWriter/writeBitRate(_:)``).
    mutating func bitRate(_ bps: UInt64) {
        let value = Double(bps)
        let scaled: Double
        let unit: UInt8
        if value >= 1e12 {
            (scaled, unit) = (value / 1e12, UInt8(ascii: "T"))
        } else if value >= 1e9 {
            (scaled, unit) = (value / 1e9, UInt8(ascii: "G"))
        } else if value >= 1e6 {
            (scaled, unit) = (value / 1e6, UInt8(ascii: "M"))
        } else if value >= 1e3 {
            (scaled, unit) = (value / 1e3, UInt8(ascii: "k"))
        } else {
            decimal(bps)
            return
        }
        // Three significant digits: 1.23, 12.3, 123; rounding up a digit (9.996 -> 10.0) drops a decimal.
        var decimals = scaled < 10 ? 2 : scaled < 100 ? 1 : 0
        var power: UInt64 = decimals == 2 ? 100 : decimals == 1 ? 10 : 1
        var digits = UInt64((scaled * Double(power)).rounded())
        if digits >= 1000 && decimals > 0 {
            decimals -= 1
            power /= 10
            digits = UInt64((scaled * Double(power)).rounded())
        }
        decimal(digits / power)
        var fraction = digits % power
        if fraction != 0 {
            while fraction % 10 == 0 {  // %g drops trailing zeros
                fraction /= 10
                decimals -= 1
            }
            byte(UInt8(ascii: "."))
            if decimals == 2 && fraction < 10 { byte(UInt8(ascii: "0")) }
            decimal(fraction)
        }
        byte(unit)
    }

    /// A number in lower-case hexadecimal without leading zeros (`ss`'s `%llx`).
    mutating func hex(_ value: UInt64) {
        var shift = 60
        while shift > 0 && value >> UInt64(shift) == 0 { shift -= 4 }
        while shift >= 0 {
            byte(Self.hexDigit(UInt8(truncatingIfNeeded: value >> UInt64(shift)) & 0xF))
            shift -= 4
        }
    }
}

extension TextWriter {
    /// Appends `time` (since 1970) as RFC 3339 in UTC with `fractionDigits` (0…9) decimals of the second:
    /// `2026-05-01T14:25:03.123456Z`. No allocation.
    public mutating func writeTimestamp(_ time: Duration, fractionDigits: Int) {
        append(maxCount: ByteCursor.maxTimestamp) { $0.timestamp(time, fractionDigits: fractionDigits) }
    }
}

extension ByteCursor {
    /// Longest ``timestamp(_:fractionDigits:)``: a year of up to 11 digits (what `gmtime_r` gives for
    /// `Int64` seconds), 15 more characters, 9 decimals.
    static let maxTimestamp = 40

    /// `time` split into whole seconds and nanoseconds, rounded down (a time before 1970 too).
    @inline(__always)
    static func split(_ time: Duration) -> (seconds: Int64, nanoseconds: Int64) {
        let (seconds, attoseconds) = time.components
        let nanoseconds = attoseconds / 1_000_000_000
        return nanoseconds < 0 ? (seconds - 1, nanoseconds + 1_000_000_000) : (seconds, nanoseconds)
    }

    /// RFC 3339 in UTC (``TextWriter/writeTimestamp(_:fractionDigits:)``).
    mutating func timestamp(_ time: Duration, fractionDigits: Int) {
        let (seconds, nanoseconds) = Self.split(time)
        let c = CalendarTime(utc: seconds)
        zeroPadded(c.year, 4)
        byte(UInt8(ascii: "-"))
        zeroPadded(c.month, 2)
        byte(UInt8(ascii: "-"))
        zeroPadded(c.day, 2)
        byte(UInt8(ascii: "T"))
        clock(c, nanoseconds: nanoseconds, fractionDigits: fractionDigits)
        byte(UInt8(ascii: "Z"))
    }

    /// `HH:MM:SS` of `c`, then a point and `fractionDigits` (0…9) decimals of `nanoseconds`, rounded down.
    mutating func clock(_ c: CalendarTime, nanoseconds: Int64, fractionDigits: Int) {
        zeroPadded(c.hour, 2)
        byte(UInt8(ascii: ":"))
        zeroPadded(c.minute, 2)
        byte(UInt8(ascii: ":"))
        zeroPadded(c.second, 2)
        guard fractionDigits > 0 else { return }
        var fraction = nanoseconds
        for _ in fractionDigits..<9 { fraction /= 10 }
        byte(UInt8(ascii: "."))
        zeroPadded(Int(fraction), fractionDigits)
    }

    /// A number at least `width` digits wide, zeros before it.
    @inline(__always)
    mutating func zeroPadded(_ value: Int, _ width: Int) {
        let magnitude = UInt64(max(0, value))
        pad(width - Self.digitCount(magnitude), UInt8(ascii: "0"))
        decimal(magnitude)
    }
}
