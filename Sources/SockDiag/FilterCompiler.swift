internal import CNetlink

/// What the kernel is asked to do for a filter, and what is left for user space.
///
/// The cheapest form wins: states go into `idiag_states`; an exact `sport`/`dport` at the top level into
/// the request's `id.idiag_sport`/`idiag_dport` (tested before any bytecode); the rest of the conditions
/// into an `INET_DIAG_REQ_BYTECODE` program (port ranges, address prefixes, devices, autobound, with
/// `and`/`or`/`not` as jumps). Only a top-level condition mixing `state` with other conditions under
/// `or`/`not` is evaluated in user space, on what the kernel returned.
public struct KernelProgram: Hashable, Sendable {
    /// States to dump (`idiag_states`).
    public var states: StateSet
    /// Exact local port for `id.idiag_sport`.
    public var localPort: UInt16?
    /// Exact remote port for `id.idiag_dport`.
    public var remotePort: UInt16?
    /// The bytecode program, empty for none.
    public var bytecode: [UInt8]
    /// What the bytecode evaluates, for display.
    public var kernelExpression: FilterExpression?
    /// What user space evaluates on each returned socket.
    public var remainder: FilterExpression?

    /// Compiles `filter` (with devices resolved by `resolveDevice`) within `baseStates`.
    ///
    /// `autobound` is the kernel's test (the port was not bound explicitly) narrowed, as `ss` narrows it, to
    /// local ports inside `ephemeralPorts` (an accepted socket inherits its listener's port yet passes the
    /// kernel's test); both parts run in the kernel.
    /// - Throws: ``FilterCompileError`` for an unknown device, a program too long, or `autobound` where
    ///   only user space could evaluate it.
    public init(
        _ filter: Filter?, baseStates: StateSet = .all, ephemeralPorts: PortRange = .kernelDefault,
        resolveDevice: (String) -> UInt32? = { _ in nil }
    ) throws(FilterCompileError) {
        states = baseStates
        bytecode = []
        guard let filter else { return }
        let expression = try filter.expression.resolvingDevices(resolveDevice)
        var kernel: [FilterExpression] = []
        var user: [FilterExpression] = []
        for conjunct in Self.conjuncts(expression) {
            if conjunct.onlyStates {
                states.formIntersection(conjunct.possibleStates)
            } else if !conjunct.mentionsState {
                kernel.append(conjunct)
            } else {
                guard conjunct.evaluableInUserSpace else { throw .autoboundInUserSpace }
                states.formIntersection(conjunct.possibleStates)
                user.append(conjunct)
            }
        }
        // Exact ports at the top level: the request id, checked before the bytecode runs. Port 0 cannot go
        // there (0 in the id means any port).
        kernel.removeAll { conjunct in
            switch conjunct {
            case .port(.source, .equal, let port) where localPort == nil && port != 0:
                localPort = port
                return true
            case .port(.destination, .equal, let port) where remotePort == nil && port != 0:
                remotePort = port
                return true
            case .host(.source, let c) where c.address == nil && (c.port ?? 0) != 0 && localPort == nil:
                localPort = c.port
                return true
            case .host(.destination, let c) where c.address == nil && (c.port ?? 0) != 0 && remotePort == nil:
                remotePort = c.port
                return true
            case .host(_, let c) where c.address == nil && c.port == nil:
                return true  // `src *`: always true
            default:
                return false
            }
        }
        // Balanced, as the parser builds a run of `and`: the tree of thousands of conjuncts stays shallow.
        if !kernel.isEmpty {
            let combined = balanced(kernel[...]) { .and($0, $1) }
            kernelExpression = combined
            var assembler = BytecodeAssembler(ephemeralPorts: ephemeralPorts)
            assembler.compile(combined, onFalse: BytecodeAssembler.reject)
            bytecode = try assembler.link()
        }
        if !user.isEmpty {
            remainder = balanced(user[...]) { .and($0, $1) }
        }
    }

    /// The largest `INET_DIAG_REQ_BYTECODE` program a request carries: a netlink attribute's length is 16
    /// bits and holds its 4-byte header, and the kernel's auditor (`inet_diag_bc_audit`) takes whole 4-byte
    /// ops. The kernel sets no smaller bound (`ss` sends programs of 20 KB).
    public static let maximumBytecodeLength = Int(CNL_BYTECODE_MAX)

    /// The operands of the top-level `and`s, left to right (without recursion: the chain may be long).
    static func conjuncts(_ e: FilterExpression) -> [FilterExpression] {
        var result: [FilterExpression] = []
        var pending = [e]
        while let next = pending.popLast() {
            if case .and(let a, let b) = next {
                pending.append(b)
                pending.append(a)
            } else {
                result.append(next)
            }
        }
        return result
    }

    /// The program as text: state mask, request ports, each bytecode op with its offset, and the user-space rest.
    public var explanation: String {
        var lines: [String] = []
        let hex = String(states.rawValue, radix: 16)
        lines.append("kernel:")
        lines.append("  idiag_states: 0x\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex) \(states)")
        lines.append("  id.idiag_sport: \(localPort.map(String.init) ?? "any")")
        lines.append("  id.idiag_dport: \(remotePort.map(String.init) ?? "any")")
        if bytecode.isEmpty {
            lines.append("  bytecode: none")
        } else {
            lines.append("  bytecode: \(bytecode.count) bytes for \(kernelExpression!)")
            lines.append(contentsOf: BytecodeAssembler.disassemble(bytecode).map { "    " + $0 })
        }
        lines.append("user space: \(remainder.map { $0.description } ?? "nothing (the kernel does all the filtering)")")
        return lines.joined(separator: "\n")
    }
}

/// Assembles `inet_diag_bc_op` programs with forward jumps resolved at link time.
///
/// The kernel runs an op and, when it holds, moves on by `yes` (always the op's own length here); when it
/// fails, jumps forward by `no`. Falling off the end exactly accepts the socket; jumping 4 bytes past
/// the end rejects it. Its auditor (`inet_diag_bc_audit`) checks every jump lands on an op or at one of
/// those two ends.
struct BytecodeAssembler {
    enum Target: Hashable {
        case label(Int)
        case accept
        case reject
    }
    static let reject = Target.reject

    private struct Op {
        var code: UInt8
        var body: [UInt8]
        var onFalse: Target
        var length: Int { 4 + body.count }
    }

    /// The namespace's `ip_local_port_range`, which `autobound` is narrowed to.
    let ephemeralPorts: PortRange
    private var ops: [Op] = []

    init(ephemeralPorts: PortRange = .kernelDefault) {
        self.ephemeralPorts = ephemeralPorts
    }
    private var labels: [Int: Int] = [:]  // label -> op index it precedes
    private var nextLabel = 0

    mutating func newLabel() -> Int {
        nextLabel += 1
        return nextLabel
    }

    mutating func place(_ label: Int) { labels[label] = ops.count }

    /// Emits code that falls through when `e` holds and jumps to `onFalse` when it does not.
    mutating func compile(_ e: FilterExpression, onFalse: Target) {
        switch e {
        case .and(let a, let b):
            compile(a, onFalse: onFalse)
            compile(b, onFalse: onFalse)
        case .or(let a, let b):
            let tryB = newLabel()
            let done = newLabel()
            compile(a, onFalse: .label(tryB))
            emit(code: UInt8(INET_DIAG_BC_JMP), body: [], onFalse: .label(done))
            place(tryB)
            compile(b, onFalse: onFalse)
            place(done)
        case .not(let a):
            let holds = newLabel()
            compile(a, onFalse: .label(holds))
            emit(code: UInt8(INET_DIAG_BC_JMP), body: [], onFalse: onFalse)
            place(holds)
        case .port(let side, let comparison, let port):
            let source = side == .source
            switch comparison {
            case .equal:
                emitPort(source ? INET_DIAG_BC_S_EQ : INET_DIAG_BC_D_EQ, port, onFalse)
            case .greaterOrEqual:
                emitPort(source ? INET_DIAG_BC_S_GE : INET_DIAG_BC_D_GE, port, onFalse)
            case .lessOrEqual:
                emitPort(source ? INET_DIAG_BC_S_LE : INET_DIAG_BC_D_LE, port, onFalse)
            case .notEqual, .less, .greater:
                // != is not(=), < is not(>=), > is not(<=).
                let inverse: PortComparison =
                    comparison == .notEqual ? .equal : comparison == .less ? .greaterOrEqual : .lessOrEqual
                compile(.not(.port(side, inverse, port)), onFalse: onFalse)
            }
        case .host(let side, let c):
            // struct inet_diag_hostcond { u8 family; u8 prefix_len; (2 bytes padding) int port; __be32 addr[]; }
            // port -1 is any; family AF_UNSPEC with no address tests the port alone.
            let port: Int32 = c.port.map { Int32($0) } ?? -1
            let family: Int32 =
                switch c.address {
                case .none: AF_UNSPEC
                case .v4: AF_INET
                case .v6: AF_INET6
                }
            var body: [UInt8] = [UInt8(family), c.prefixLength, 0, 0]
            withUnsafeBytes(of: port) { body.append(contentsOf: $0) }
            switch c.address {
            case .none: break
            case .v4(let a): withUnsafeBytes(of: a.value.bigEndian) { body.append(contentsOf: $0) }
            case .v6(let a):
                withUnsafeBytes(of: a.high.bigEndian) { body.append(contentsOf: $0) }
                withUnsafeBytes(of: a.low.bigEndian) { body.append(contentsOf: $0) }
            }
            emit(code: UInt8(side == .source ? INET_DIAG_BC_S_COND : INET_DIAG_BC_D_COND), body: body, onFalse: onFalse)
        case .device(let device):
            var body: [UInt8] = []
            let index: UInt32 = if case .index(let i) = device { i } else { 0 }
            withUnsafeBytes(of: index) { body.append(contentsOf: $0) }
            emit(code: UInt8(INET_DIAG_BC_DEV_COND), body: body, onFalse: onFalse)
        case .autobound:
            emit(code: UInt8(INET_DIAG_BC_AUTO), body: [], onFalse: onFalse)
            emitPort(INET_DIAG_BC_S_GE, ephemeralPorts.low, onFalse)
            emitPort(INET_DIAG_BC_S_LE, ephemeralPorts.high, onFalse)
        case .state:
            // States never reach the bytecode: the compiler routes them to idiag_states or user space.
            preconditionFailure("state condition in bytecode")
        }
    }

    private mutating func emitPort(_ code: Int, _ port: UInt16, _ onFalse: Target) {
        // The port rides in the `no` field of a second op.
        var body: [UInt8] = [0, 0]
        withUnsafeBytes(of: port) { body.append(contentsOf: $0) }
        emit(code: UInt8(code), body: body, onFalse: onFalse)
    }

    private mutating func emit(code: UInt8, body: [UInt8], onFalse: Target) {
        ops.append(Op(code: code, body: body, onFalse: onFalse))
    }

    /// Lays the ops out and resolves every jump.
    ///
    /// - Throws: ``FilterCompileError/programTooLong(_:)`` beyond ``KernelProgram/maximumBytecodeLength``
    ///   (where a jump would no longer fit the 16-bit `no` field either).
    func link() throws(FilterCompileError) -> [UInt8] {
        var offsets: [Int] = []
        var at = 0
        for op in ops {
            offsets.append(at)
            at += op.length
        }
        let end = at
        guard end <= KernelProgram.maximumBytecodeLength else { throw .programTooLong(end) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(end)
        for (i, op) in ops.enumerated() {
            let target: Int
            switch op.onFalse {
            case .accept: target = end
            case .reject: target = end + 4
            case .label(let l):
                let index = labels[l]!
                target = index < ops.count ? offsets[index] : end
            }
            let no = UInt16(target - offsets[i])
            bytes.append(op.code)
            bytes.append(UInt8(op.length))
            withUnsafeBytes(of: no) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: op.body)
        }
        return bytes
    }

    /// One line per op: offset, mnemonic, operand, and where `yes`/`no` lead.
    static func disassemble(_ code: [UInt8]) -> [String] {
        var lines: [String] = []
        var at = 0
        let end = code.count
        func target(_ t: Int) -> String {
            t == end ? "accept" : t == end + 4 ? "reject" : String(t)
        }
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(1, n - s.count)) }
        while at + 4 <= end {
            let op = code[at]
            let yes = Int(code[at + 1])
            let no = Int(code[at + 2]) | Int(code[at + 3]) << 8
            var name = "op\(op)"
            var operand = ""
            func u16(_ o: Int) -> Int { o + 1 < end ? Int(code[o]) | Int(code[o + 1]) << 8 : 0 }
            switch Int(op) {
            case Int(INET_DIAG_BC_NOP): name = "NOP"
            case Int(INET_DIAG_BC_JMP): name = "JMP"
            case Int(INET_DIAG_BC_S_GE): (name, operand) = ("S_GE", "sport >= \(u16(at + 6))")
            case Int(INET_DIAG_BC_S_LE): (name, operand) = ("S_LE", "sport <= \(u16(at + 6))")
            case Int(INET_DIAG_BC_D_GE): (name, operand) = ("D_GE", "dport >= \(u16(at + 6))")
            case Int(INET_DIAG_BC_D_LE): (name, operand) = ("D_LE", "dport <= \(u16(at + 6))")
            case Int(INET_DIAG_BC_S_EQ): (name, operand) = ("S_EQ", "sport == \(u16(at + 6))")
            case Int(INET_DIAG_BC_D_EQ): (name, operand) = ("D_EQ", "dport == \(u16(at + 6))")
            case Int(INET_DIAG_BC_AUTO): name = "AUTO"
            case Int(INET_DIAG_BC_DEV_COND):
                name = "DEV_COND"
                if at + 8 <= end {
                    let index = code[(at + 4)..<(at + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
                    operand = "ifindex == \(index)"
                }
            case Int(INET_DIAG_BC_S_COND), Int(INET_DIAG_BC_D_COND):
                name = Int(op) == Int(INET_DIAG_BC_S_COND) ? "S_COND" : "D_COND"
                if at + 12 <= end {
                    let family = Int(code[at + 4])
                    let prefix = Int(code[at + 5])
                    let port = code[(at + 8)..<(at + 12)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    let portText = port == UInt32.max ? "any" : String(port)
                    var address = "*"
                    if family == Int(AF_INET), at + 16 <= end {
                        address = code[(at + 12)..<(at + 16)].map(String.init).joined(separator: ".") + "/\(prefix)"
                    } else if family == Int(AF_INET6), at + 28 <= end {
                        var bytes = code[(at + 12)..<(at + 28)]
                        let a = bytes.withUnsafeMutableBytes { IPv6Address(networkBytes: UnsafeRawBufferPointer($0)) }
                        address = "[\(a)]/\(prefix)"
                        _ = bytes
                    }
                    operand = "\(address) port \(portText)"
                }
            default: break
            }
            let line =
                pad("\(at):", 6) + pad(name, 10) + pad(operand, 36)
                + "yes -> \(target(at + yes))  no -> \(target(at + no))"
            lines.append(line)
            guard yes >= 4 else { break }
            at += yes
        }
        return lines
    }
}
