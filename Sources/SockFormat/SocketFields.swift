import SockDiag

// The fields of a socket, declared once: NDJSON (`RecordFormatter.writeJSON`), CSV (`writeCSV` and its header)
// and the `ss`-style table (`writeRow`) all read these lists, so that a field added here reaches every format
// (or is left out of the table on purpose, as `ss` leaves it out). Each list is an enumeration whose order is
// the JSON and CSV order; every property is an exhaustive switch, so a new case does not compile until it says
// how each format writes it.

/// The flat fields of a socket, in JSON and CSV order (the CLI contract).
public enum SocketField: CaseIterable, Sendable {
    case proto, family, state, localAddress, localPort, remoteAddress, remotePort, receiveQueue, sendQueue, uid
    case inode, cookie, interface

    /// Calls `body` with every field, in the list's order: what the formats loop over. Written out so that each call is inlined
    /// with its field known (no loop, no switch left per socket); a test checks it against `allCases`.
    @inline(__always)
    static func forEach(_ body: (SocketField) -> Void) {
        body(.proto)
        body(.family)
        body(.state)
        body(.localAddress)
        body(.localPort)
        body(.remoteAddress)
        body(.remotePort)
        body(.receiveQueue)
        body(.sendQueue)
        body(.uid)
        body(.inode)
        body(.cookie)
        body(.interface)
    }

    /// The JSON key and CSV column.
    @inline(__always)
    public var name: StaticString {
        switch self {
        case .proto: "proto"
        case .family: "family"
        case .state: "state"
        case .localAddress: "local_address"
        case .localPort: "local_port"
        case .remoteAddress: "remote_address"
        case .remotePort: "remote_port"
        case .receiveQueue: "recv_q"
        case .sendQueue: "send_q"
        case .uid: "uid"
        case .inode: "inode"
        case .cookie: "cookie"
        case .interface: "interface"
        }
    }

    /// `name` as a JSON member's start: `"proto":` opening the object, `,"family":` after another member.
    @inline(__always)
    var jsonKey: StaticString {
        switch self {
        case .proto: "{\"proto\":"
        case .family: ",\"family\":"
        case .state: ",\"state\":"
        case .localAddress: ",\"local_address\":"
        case .localPort: ",\"local_port\":"
        case .remoteAddress: ",\"remote_address\":"
        case .remotePort: ",\"remote_port\":"
        case .receiveQueue: ",\"recv_q\":"
        case .sendQueue: ",\"send_q\":"
        case .uid: ",\"uid\":"
        case .inode: ",\"inode\":"
        case .cookie: ",\"cookie\":"
        case .interface: ",\"interface\":"
        }
    }

    /// ``jsonKey`` in an object that other members opened (an event's): the first field continues it
    /// (`,"proto":`) instead of opening it.
    @inline(__always)
    var jsonKeyAfterMembers: StaticString { self == .proto ? ",\"proto\":" : jsonKey }

    /// Where the table shows it: a column of `ss`'s layout, a detail of `-e`, or nowhere (the family shows in
    /// the address's form).
    @inline(__always)
    var table: TableForm {
        switch self {
        case .proto, .state, .localAddress, .localPort, .remoteAddress, .remotePort, .receiveQueue, .sendQueue:
            .column
        case .family: .omitted
        case .uid: .detail(" uid:", .decimal)
        case .inode: .detail(" ino:", .decimal)
        case .cookie: .detail(" sk:", .hexadecimal)  // as ss prints it
        case .interface: .detail(" if:", .decimal)  // only when bound to a device
        }
    }

    /// The value in `r`.
    @inline(__always)
    func value(in r: SocketRecord) -> FieldValue {
        switch self {
        case .proto: .text(r.proto == .tcp ? "tcp" : "udp")
        case .family: .text(r.family == .inet ? "inet" : "inet6")
        case .state: .state(r.state)
        case .localAddress: .address(r.local.address)
        case .localPort: .number(UInt64(r.local.port))
        case .remoteAddress: .address(r.remote.address)
        case .remotePort: .number(UInt64(r.remote.port))
        case .receiveQueue: .number(UInt64(r.receiveQueue))
        case .sendQueue: .number(UInt64(r.sendQueue))
        case .uid: .number(UInt64(r.uid))
        case .inode: .number(UInt64(r.inode))
        case .cookie: .number(r.cookie)
        case .interface: .number(UInt64(r.interfaceIndex))
        }
    }
}

/// The fields of an event (`sockscan events`), before the socket's own: `event` and `time` open the JSON object
/// and lead the CSV columns; the table shows the time, as local time of day, in a first column and leaves the
/// kind out (there is one).
public enum EventField: CaseIterable, Sendable {
    case event, time

    /// Calls `body` with every field, in the list's order, written out as ``SocketField/forEach(_:)`` is; a test
    /// checks it against `allCases`.
    @inline(__always)
    static func forEach(_ body: (EventField) -> Void) {
        body(.event)
        body(.time)
    }

    /// The JSON key and CSV column.
    @inline(__always)
    public var name: StaticString {
        switch self {
        case .event: "event"
        case .time: "time"
        }
    }

    /// `name` as a JSON member's start: `{"event":` opens the object, the socket's fields follow with
    /// ``SocketField/jsonKeyAfterMembers``.
    @inline(__always)
    var jsonKey: StaticString {
        switch self {
        case .event: "{\"event\":"
        case .time: ",\"time\":"
        }
    }

    /// Where the table shows it: the time as the first column, the kind nowhere.
    @inline(__always)
    var table: TableForm {
        switch self {
        case .event: .omitted
        case .time: .column
        }
    }

    /// The value in `e`: the kind's name (`destroy`); the time, written as RFC 3339 UTC with microseconds
    /// (`2026-05-01T14:25:03.123456Z`).
    @inline(__always)
    func value(in e: SocketEvent) -> FieldValue {
        switch self {
        case .event:
            switch e.kind {
            case .destroy: .text("destroy")
            }
        case .time: .time(e.time)
        }
    }
}

/// The socket's timer: an object `timer` in JSON, `timer.*` columns in CSV (with `-e`), `timer:(…)` in the table
/// (with `-e`, when one runs).
public enum TimerField: CaseIterable, Sendable {
    case kind, expiresMilliseconds, retransmits

    /// Calls `body` with every field, in the list's order: what the formats loop over. Written out so that each call is inlined
    /// with its field known (no loop, no switch left per socket); a test checks it against `allCases`.
    @inline(__always)
    static func forEach(_ body: (TimerField) -> Void) {
        body(.kind)
        body(.expiresMilliseconds)
        body(.retransmits)
    }

    /// The JSON key inside `timer`, and the CSV column after `timer.`.
    @inline(__always)
    public var name: StaticString {
        switch self {
        case .kind: "kind"
        case .expiresMilliseconds: "expires_ms"
        case .retransmits: "retransmits"
        }
    }

    @inline(__always)
    var jsonKey: StaticString {
        switch self {
        case .kind: ",\"timer\":{\"kind\":"
        case .expiresMilliseconds: ",\"expires_ms\":"
        case .retransmits: ",\"retransmits\":"
        }
    }

    /// `timer:(kind,1.500s,2)`, as ss prints it.
    @inline(__always)
    var table: TableForm {
        switch self {
        case .kind: .detail(" timer:(", .text)
        case .expiresMilliseconds: .detail(",", .thousandths(suffix: "s"))
        case .retransmits: .detail(",", .decimal)
        }
    }

    @inline(__always)
    func value(in timer: SocketTimer) -> FieldValue {
        switch self {
        case .kind: .text(timer.kind.staticDescription)
        case .expiresMilliseconds: .number(UInt64(timer.expiresMilliseconds))
        case .retransmits: .number(UInt64(timer.retransmits))
        }
    }
}

/// The `tcp_info` fields (`-i`): an object `tcp_info` in JSON, `tcp_info.*` columns in CSV, `ss -i`'s words in
/// the table.
public enum TCPInfoField: CaseIterable, Sendable {
    case rtt, rttvar, rto, cwnd, ssthresh, sendMSS, receiveMSS, unacked, lost, retransmits, totalRetransmits
    case bytesAcked, bytesReceived, deliveryRate

    /// Calls `body` with every field, in the list's order: what the formats loop over. Written out so that each call is inlined
    /// with its field known (no loop, no switch left per socket); a test checks it against `allCases`.
    @inline(__always)
    static func forEach(_ body: (TCPInfoField) -> Void) {
        body(.rtt)
        body(.rttvar)
        body(.rto)
        body(.cwnd)
        body(.ssthresh)
        body(.sendMSS)
        body(.receiveMSS)
        body(.unacked)
        body(.lost)
        body(.retransmits)
        body(.totalRetransmits)
        body(.bytesAcked)
        body(.bytesReceived)
        body(.deliveryRate)
    }

    /// The JSON key inside `tcp_info`, and the CSV column after `tcp_info.`.
    @inline(__always)
    public var name: StaticString {
        switch self {
        case .rtt: "rtt_us"
        case .rttvar: "rttvar_us"
        case .rto: "rto_us"
        case .cwnd: "cwnd"
        case .ssthresh: "ssthresh"
        case .sendMSS: "snd_mss"
        case .receiveMSS: "rcv_mss"
        case .unacked: "unacked"
        case .lost: "lost"
        case .retransmits: "retransmits"
        case .totalRetransmits: "total_retransmits"
        case .bytesAcked: "bytes_acked"
        case .bytesReceived: "bytes_received"
        case .deliveryRate: "delivery_rate_bps"
        }
    }

    @inline(__always)
    var jsonKey: StaticString {
        switch self {
        case .rtt: ",\"tcp_info\":{\"rtt_us\":"
        case .rttvar: ",\"rttvar_us\":"
        case .rto: ",\"rto_us\":"
        case .cwnd: ",\"cwnd\":"
        case .ssthresh: ",\"ssthresh\":"
        case .sendMSS: ",\"snd_mss\":"
        case .receiveMSS: ",\"rcv_mss\":"
        case .unacked: ",\"unacked\":"
        case .lost: ",\"lost\":"
        case .retransmits: ",\"retransmits\":"
        case .totalRetransmits: ",\"total_retransmits\":"
        case .bytesAcked: ",\"bytes_acked\":"
        case .bytesReceived: ",\"bytes_received\":"
        case .deliveryRate: ",\"delivery_rate_bps\":"
        }
    }

    /// The value in `info`; `nil` for a value the kernel has not set (ssthresh is "infinite" until the first
    /// loss): JSON null, an empty CSV field, left out of the table.
    @inline(__always)
    func value(in info: TCPInfo) -> UInt64? {
        switch self {
        case .rtt: UInt64(info.rtt)
        case .rttvar: UInt64(info.rttvar)
        case .rto: UInt64(info.rto)
        case .cwnd: UInt64(info.cwnd)
        case .ssthresh: info.ssthresh < TCPInfo.infiniteSSThresh ? UInt64(info.ssthresh) : nil
        case .sendMSS: UInt64(info.sendMSS)
        case .receiveMSS: UInt64(info.receiveMSS)
        case .unacked: UInt64(info.unacked)
        case .lost: UInt64(info.lost)
        case .retransmits: UInt64(info.retransmits)
        case .totalRetransmits: UInt64(info.totalRetransmits)
        case .bytesAcked: info.bytesAcked
        case .bytesReceived: info.bytesReceived
        case .deliveryRate: info.deliveryRate.bitsPerSecond
        }
    }

    /// How `ss -i` shows it, in `ss`'s order (``forEachInTable(_:)``); rto, the MSS, unacked and lost are left out, as
    /// `ss` leaves them out of that line. Retransmits show as `retrans:now/total` once there was one.
    @inline(__always)
    var table: TableForm {
        switch self {
        case .rtt: .detail(" rtt:", .thousandths(suffix: ""))
        case .rttvar: .detail("/", .thousandths(suffix: ""))
        case .cwnd: .detail(" cwnd:", .decimal)
        case .ssthresh: .detail(" ssthresh:", .decimal)
        case .bytesAcked: .detail(" bytes_acked:", .decimal)
        case .bytesReceived: .detail(" bytes_received:", .decimal)
        case .retransmits: .detail(" retrans:", .decimal)
        case .totalRetransmits: .detail("/", .decimal)
        case .deliveryRate: .detail(" delivery_rate ", .bitRate)  // a space, human units, as ss prints it
        case .rto, .sendMSS, .receiveMSS, .unacked, .lost: .omitted
        }
    }

    /// Calls `body` with the fields the table shows, in `ss`'s order: retransmits come after the byte counts
    /// there. Written out as ``forEach(_:)`` is; a test checks it holds every field with a table form.
    @inline(__always)
    static func forEachInTable(_ body: (TCPInfoField) -> Void) {
        body(.rtt)
        body(.rttvar)
        body(.cwnd)
        body(.ssthresh)
        body(.bytesAcked)
        body(.bytesReceived)
        body(.retransmits)
        body(.totalRetransmits)
        body(.deliveryRate)
    }

    /// Whether the table shows the field for `info`: a value is set, and retransmits only once there was one.
    @inline(__always)
    func isShownInTable(_ info: TCPInfo) -> Bool {
        switch self {
        case .retransmits, .totalRetransmits: info.totalRetransmits > 0
        default: true
        }
    }
}

/// The socket memory fields (`-m`): an object `memory` in JSON, `memory.*` columns in CSV, `skmem:(…)` in the
/// table (the kernel's `SK_MEMINFO_*` order, as `ss -m`).
public enum MemoryField: CaseIterable, Sendable {
    case receiveAllocated, receiveBuffer, sendAllocated, sendBuffer, forwardAllocated, sendQueued, optionMemory
    case backlog, drops

    /// Calls `body` with every field, in the list's order: what the formats loop over. Written out so that each call is inlined
    /// with its field known (no loop, no switch left per socket); a test checks it against `allCases`.
    @inline(__always)
    static func forEach(_ body: (MemoryField) -> Void) {
        body(.receiveAllocated)
        body(.receiveBuffer)
        body(.sendAllocated)
        body(.sendBuffer)
        body(.forwardAllocated)
        body(.sendQueued)
        body(.optionMemory)
        body(.backlog)
        body(.drops)
    }

    /// The JSON key inside `memory`, and the CSV column after `memory.`.
    @inline(__always)
    public var name: StaticString {
        switch self {
        case .receiveAllocated: "rmem_alloc"
        case .receiveBuffer: "rcvbuf"
        case .sendAllocated: "wmem_alloc"
        case .sendBuffer: "sndbuf"
        case .forwardAllocated: "fwd_alloc"
        case .sendQueued: "wmem_queued"
        case .optionMemory: "optmem"
        case .backlog: "backlog"
        case .drops: "drops"
        }
    }

    @inline(__always)
    var jsonKey: StaticString {
        switch self {
        case .receiveAllocated: ",\"memory\":{\"rmem_alloc\":"
        case .receiveBuffer: ",\"rcvbuf\":"
        case .sendAllocated: ",\"wmem_alloc\":"
        case .sendBuffer: ",\"sndbuf\":"
        case .forwardAllocated: ",\"fwd_alloc\":"
        case .sendQueued: ",\"wmem_queued\":"
        case .optionMemory: ",\"optmem\":"
        case .backlog: ",\"backlog\":"
        case .drops: ",\"drops\":"
        }
    }

    /// `skmem:(r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`.
    @inline(__always)
    var table: TableForm {
        switch self {
        case .receiveAllocated: .detail(" skmem:(r", .decimal)
        case .receiveBuffer: .detail(",rb", .decimal)
        case .sendAllocated: .detail(",t", .decimal)
        case .sendBuffer: .detail(",tb", .decimal)
        case .forwardAllocated: .detail(",f", .decimal)
        case .sendQueued: .detail(",w", .decimal)
        case .optionMemory: .detail(",o", .decimal)
        case .backlog: .detail(",bl", .decimal)
        case .drops: .detail(",d", .decimal)
        }
    }

    @inline(__always)
    func value(in m: SocketMemory) -> UInt64 {
        switch self {
        case .receiveAllocated: UInt64(m.receiveAllocated)
        case .receiveBuffer: UInt64(m.receiveBuffer)
        case .sendAllocated: UInt64(m.sendAllocated)
        case .sendBuffer: UInt64(m.sendBuffer)
        case .forwardAllocated: UInt64(m.forwardAllocated)
        case .sendQueued: UInt64(m.sendQueued)
        case .optionMemory: UInt64(m.optionMemory)
        case .backlog: UInt64(m.backlog)
        case .drops: UInt64(m.drops)
        }
    }
}

/// Where the `ss`-style table shows a field.
enum TableForm {
    /// A column of the layout (state, queues, addresses and ports; the Netid column).
    case column
    /// In the details after the peer: the text before the value, and how the value is written.
    case detail(StaticString, TableUnit)
    /// Not in the table, as `ss` does not show it.
    case omitted

}

/// How a table detail writes its value.
enum TableUnit {
    case decimal
    /// Lower-case hexadecimal (the cookie).
    case hexadecimal
    /// Thousandths as `I.FFF` (microseconds as milliseconds), then `suffix`.
    case thousandths(suffix: StaticString)
    /// Bits per second as `ss` prints them (`6.61Gbps`).
    case bitRate
    /// The value's text.
    case text

}

/// A field's value for a format to write.
enum FieldValue {
    case number(UInt64)
    /// A fixed word (`tcp`, `inet6`, a timer kind): a JSON string.
    case text(StaticString)
    case state(TCPState)
    case address(IPAddress)
    /// A time since 1970: a JSON string, RFC 3339 UTC with microseconds.
    case time(Duration)
}

extension TCPInfo {
    /// `TCP_INFINITE_SSTHRESH`: the slow-start threshold is not set yet. JSON gives it as null, CSV as an
    /// empty field, the table leaves it out (as `ss` does).
    static let infiniteSSThresh: UInt32 = 0x7FFF_FFFF
}

extension UInt64 {
    /// Bytes per second as bits per second, saturating (the kernel's u64 could overflow `* 8`).
    fileprivate var bitsPerSecond: UInt64 {
        let (bits, overflow) = multipliedReportingOverflow(by: 8)
        return overflow ? .max : bits
    }
}
