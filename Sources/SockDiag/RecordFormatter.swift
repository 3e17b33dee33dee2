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
    }

    public var fields: Fields
    private var interfaceNames: [UInt32: String] = [:]

    public init(fields: Fields = []) {
        self.fields = fields
    }

    /// Column widths of the table; wider values push the row right, as in `ss`.
    static let stateWidth = 11
    static let queueWidth = 7
    static let addressWidth = 24

    /// Writes the table header line.
    public func writeHeader(into out: inout TextWriter) {
        if fields.contains(.netid) { column("Netid", 6, &out) }
        column("State", Self.stateWidth, &out)
        column("Recv-Q", Self.queueWidth, &out, right: true)
        out.write(byte: UInt8(ascii: " "))
        column("Send-Q", Self.queueWidth, &out, right: true)
        out.write(byte: UInt8(ascii: " "))
        column("Local Address:Port", Self.addressWidth, &out)
        out.write(byte: UInt8(ascii: " "))
        if fields.contains(.extended) {
            column("Peer Address:Port", Self.addressWidth, &out)
            out.write(" Details")
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
    public mutating func writeRow(_ r: SocketRecord, into out: inout TextWriter) {
        // Bounded pieces as in writeJSON: the row with the extended fields (at most ~300 bytes: two bracketed
        // IPv6 endpoints with a 15-byte interface name, 10-digit queues, the extended numbers), tcp_info (~220)
        // and memory (~140), each with room for 512.
        let localInterface = r.interfaceIndex == 0 ? nil : interfaceName(r.interfaceIndex)
        out.append(maxCount: 512) { c in
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
            start = c.count
            Self.writeAddress(r.local, interface: localInterface, &c)
            c.pad(Self.addressWidth - (c.count - start))
            c.byte(UInt8(ascii: " "))
            start = c.count
            Self.writeAddress(r.remote, interface: nil, &c)
            if fields.contains(.extended) {
                c.pad(Self.addressWidth - (c.count - start))
                c.text(" uid:")
                c.decimal(UInt64(r.uid))
                c.text(" ino:")
                c.decimal(UInt64(r.inode))
                c.text(" sk:")
                c.decimal(r.cookie)
                if r.interfaceIndex != 0 {
                    c.text(" if:")
                    c.decimal(UInt64(r.interfaceIndex))
                }
                if r.timer.kind != .none {
                    c.text(" timer:(")
                    c.text(r.timer.kind.staticDescription)
                    c.byte(UInt8(ascii: ","))
                    c.thousandths(UInt64(r.timer.expiresMilliseconds))
                    c.text("s,")
                    c.decimal(UInt64(r.timer.retransmits))
                    c.byte(UInt8(ascii: ")"))
                }
            }
        }
        if fields.contains(.tcpInfo), let info = r.tcpInfo {
            out.append(maxCount: 512) { c in
                c.text(" rtt:")
                c.thousandths(UInt64(info.rtt))
                c.byte(UInt8(ascii: "/"))
                c.thousandths(UInt64(info.rttvar))
                c.text(" cwnd:")
                c.decimal(UInt64(info.cwnd))
                if info.ssthresh < 0x7FFF_FFFF {
                    c.text(" ssthresh:")
                    c.decimal(UInt64(info.ssthresh))
                }
                c.text(" bytes_acked:")
                c.decimal(info.bytesAcked)
                c.text(" bytes_received:")
                c.decimal(info.bytesReceived)
                if info.totalRetransmits > 0 {
                    c.text(" retrans:")
                    c.decimal(UInt64(info.retransmits))
                    c.byte(UInt8(ascii: "/"))
                    c.decimal(UInt64(info.totalRetransmits))
                }
                c.text(" delivery_rate:")
                c.decimal(info.deliveryRate.bitsPerSecond)
                c.text("bps")
            }
        }
        out.append(maxCount: 512) { c in
            if fields.contains(.memory), let m = r.memory {
                c.text(" skmem:(r")
                c.decimal(UInt64(m.receiveAllocated))
                c.text(",rb")
                c.decimal(UInt64(m.receiveBuffer))
                c.text(",t")
                c.decimal(UInt64(m.sendAllocated))
                c.text(",tb")
                c.decimal(UInt64(m.sendBuffer))
                c.text(",f")
                c.decimal(UInt64(m.forwardAllocated))
                c.text(",w")
                c.decimal(UInt64(m.sendQueued))
                c.text(",o")
                c.decimal(UInt64(m.optionMemory))
                c.text(",bl")
                c.decimal(UInt64(m.backlog))
                c.text(",d")
                c.decimal(UInt64(m.drops))
                c.byte(UInt8(ascii: ")"))
            }
            c.byte(UInt8(ascii: "\n"))
        }
    }

    private static func writeRight(_ value: UInt64, _ width: Int, _ c: inout ByteCursor) {
        c.pad(width - ByteCursor.digitCount(value))
        c.decimal(value)
    }

    /// `ss -n` style: `0.0.0.0:22`, `[::1]:80`, port 0 as `*`, a bound device as `%name`.
    private static func writeAddress(_ e: Endpoint, interface: String?, _ c: inout ByteCursor) {
        switch e.address {
        case .v4(let a): c.address(a)
        case .v6(let a):
            c.byte(UInt8(ascii: "["))
            c.address(a)
            c.byte(UInt8(ascii: "]"))
        }
        if let interface {
            c.byte(UInt8(ascii: "%"))
            c.text(string: interface)
        }
        c.byte(UInt8(ascii: ":"))
        if e.port == 0 {
            c.byte(UInt8(ascii: "*"))
        } else {
            c.decimal(UInt64(e.port))
        }
    }

    private mutating func interfaceName(_ index: UInt32) -> String {
        if let name = interfaceNames[index] { return name }
        var buffer = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        let name =
            if_indextoname(index, &buffer) != nil
            ? String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : String(index)
        interfaceNames[index] = name
        return name
    }

    /// Writes one record as a JSON object and a newline (NDJSON), with the fields of the CLI contract:
    /// `proto family state local_address local_port remote_address remote_port recv_q send_q uid inode
    /// cookie interface`, then `timer`, and `tcp_info` / `memory` when asked for and present.
    public func writeJSON(_ r: SocketRecord, into out: inout TextWriter) {
        // Three bounded pieces (the longest base object is 421 bytes, tcp_info 360, memory 209), each
        // formatted on the stack and appended to the writer at once.
        out.append(maxCount: 512) { c in
            c.text("{\"proto\":\"")
            c.text(r.proto == .tcp ? "tcp" as StaticString : "udp")
            c.text("\",\"family\":\"")
            c.text(r.family == .inet ? "inet" as StaticString : "inet6")
            c.text("\",\"state\":\"")
            if let name = r.state.staticName { c.text(name) } else { c.text(string: r.state.name) }
            c.text("\",\"local_address\":\"")
            c.address(r.local.address)
            c.text("\",\"local_port\":")
            c.decimal(UInt64(r.local.port))
            c.text(",\"remote_address\":\"")
            c.address(r.remote.address)
            c.text("\",\"remote_port\":")
            c.decimal(UInt64(r.remote.port))
            c.text(",\"recv_q\":")
            c.decimal(UInt64(r.receiveQueue))
            c.text(",\"send_q\":")
            c.decimal(UInt64(r.sendQueue))
            c.text(",\"uid\":")
            c.decimal(UInt64(r.uid))
            c.text(",\"inode\":")
            c.decimal(UInt64(r.inode))
            c.text(",\"cookie\":")
            c.decimal(r.cookie)
            c.text(",\"interface\":")
            c.decimal(UInt64(r.interfaceIndex))
            c.text(",\"timer\":{\"kind\":\"")
            c.text(r.timer.kind.staticDescription)
            c.text("\",\"expires_ms\":")
            c.decimal(UInt64(r.timer.expiresMilliseconds))
            c.text(",\"retransmits\":")
            c.decimal(UInt64(r.timer.retransmits))
            c.byte(UInt8(ascii: "}"))
        }
        if fields.contains(.tcpInfo), let i = r.tcpInfo {
            out.append(maxCount: 512) { c in
                c.text(",\"tcp_info\":{\"rtt_us\":")
                c.decimal(UInt64(i.rtt))
                c.text(",\"rttvar_us\":")
                c.decimal(UInt64(i.rttvar))
                c.text(",\"rto_us\":")
                c.decimal(UInt64(i.rto))
                c.text(",\"cwnd\":")
                c.decimal(UInt64(i.cwnd))
                c.text(",\"ssthresh\":")
                c.decimal(UInt64(i.ssthresh))
                c.text(",\"snd_mss\":")
                c.decimal(UInt64(i.sendMSS))
                c.text(",\"rcv_mss\":")
                c.decimal(UInt64(i.receiveMSS))
                c.text(",\"unacked\":")
                c.decimal(UInt64(i.unacked))
                c.text(",\"lost\":")
                c.decimal(UInt64(i.lost))
                c.text(",\"retransmits\":")
                c.decimal(UInt64(i.retransmits))
                c.text(",\"total_retransmits\":")
                c.decimal(UInt64(i.totalRetransmits))
                c.text(",\"bytes_acked\":")
                c.decimal(i.bytesAcked)
                c.text(",\"bytes_received\":")
                c.decimal(i.bytesReceived)
                c.text(",\"delivery_rate_bps\":")
                c.decimal(i.deliveryRate.bitsPerSecond)
                c.byte(UInt8(ascii: "}"))
            }
        }
        out.append(maxCount: 512) { c in
            if fields.contains(.memory), let m = r.memory {
                c.text(",\"memory\":{\"rmem_alloc\":")
                c.decimal(UInt64(m.receiveAllocated))
                c.text(",\"rcvbuf\":")
                c.decimal(UInt64(m.receiveBuffer))
                c.text(",\"wmem_alloc\":")
                c.decimal(UInt64(m.sendAllocated))
                c.text(",\"sndbuf\":")
                c.decimal(UInt64(m.sendBuffer))
                c.text(",\"fwd_alloc\":")
                c.decimal(UInt64(m.forwardAllocated))
                c.text(",\"wmem_queued\":")
                c.decimal(UInt64(m.sendQueued))
                c.text(",\"optmem\":")
                c.decimal(UInt64(m.optionMemory))
                c.text(",\"backlog\":")
                c.decimal(UInt64(m.backlog))
                c.text(",\"drops\":")
                c.decimal(UInt64(m.drops))
                c.byte(UInt8(ascii: "}"))
            }
            c.text("}\n")
        }
    }
}

extension UInt64 {
    /// Bytes per second as bits per second, saturating (the kernel's u64 could overflow `* 8`).
    fileprivate var bitsPerSecond: UInt64 {
        let (bits, overflow) = multipliedReportingOverflow(by: 8)
        return overflow ? .max : bits
    }
}
