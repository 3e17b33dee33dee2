import Testing

@testable import SockDiag

@Suite("Filter language: parsing as ss reads it")
struct FilterParserTests {
    @Test(
        "expressions parse to the expected tree (printed fully parenthesised)",
        arguments: [
            ("dport = :443", "dport = :443"),
            ("dport == 443", "dport = :443"),
            ("dport eq :443", "dport = :443"),
            ("sport neq :22", "sport != :22"),
            ("sport != :22", "sport != :22"),
            ("sport lt :1024", "sport < :1024"),
            ("sport gt :1024", "sport > :1024"),
            ("sport le :1024", "sport <= :1024"),
            ("sport ge :1024", "sport >= :1024"),
            ("sport>=:1024", "sport >= :1024"),
            ("dport :80", "dport = :80"),
            ("dst 10.0.0.0/8", "dst 10.0.0.0/8"),
            ("dst 10.1.2.3", "dst 10.1.2.3"),
            ("src 127.0.0.1:80", "src 127.0.0.1:80"),
            ("src [::1]:80", "src [::1]:80"),
            ("src ::1", "src [::1]"),
            ("dst [2001:db8::]/32", "dst [2001:db8::]/32"),
            ("dst 2001:db8::/32", "dst [2001:db8::]/32"),
            ("dst *:443", "dst *:443"),
            ("dst *", "dst *"),
            ("dev lo", "dev lo"),
            ("dev 7", "dev 7"),
            ("autobound", "autobound"),
            ("state time-wait", "state time-wait"),
            ("state closed", "state close"),
            ("state listening", "state listen"),
            ("state connected", "state connected"),
            ("exclude listen", "not state listen"),
            // ss: a leading run of state words forms one set: state adds, exclude removes.
            ("state established state time-wait", "(state established or state time-wait)"),
            ("exclude listen exclude close", "state connected"),
            ("state established dport = :443", "(state established and dport = :443)"),
            // Juxtaposition is `and`.
            ("dport = :443 sport = :80", "(dport = :443 and sport = :80)"),
            // ss: and/or bind equally, left to right.
            ("dport = :1 or dport = :2 and sport = :3", "((dport = :1 or dport = :2) and sport = :3)"),
            ("dport = :1 and dport = :2 or sport = :3", "((dport = :1 and dport = :2) or sport = :3)"),
            ("dport = :1 || ( dport = :2 && sport = :3 )", "(dport = :1 or (dport = :2 and sport = :3))"),
            ("!dport = :1", "not dport = :1"),
            ("not ( dport = :1 or dport = :2 )", "not (dport = :1 or dport = :2)"),
            ("dport = :443 and state established", "(dport = :443 and state established)"),
            ("state established or dport = :80", "(state established or dport = :80)"),
        ])
    func parses(input: String, printed: String) throws {
        let filter = try Filter(parsing: input)
        #expect(filter.description == printed)
        // The printed form parses back to the same tree.
        #expect(try Filter(parsing: filter.description) == filter)
    }

    @Test("several arguments read like one string, as ss takes them")
    func arguments() throws {
        #expect(
            try Filter(parsing: ["dport", "=", ":443", "and", "state", "established"])
                == Filter(parsing: "dport = :443 and state established"))
    }

    @Test("service names resolve from /etc/services", .enabled(if: ServiceNames.shared.port(for: "https") != nil))
    func services() throws {
        #expect(try Filter(parsing: "dport = :https") == Filter(.dport(.equal, 443)))
        #expect(try Filter(parsing: "dst 127.0.0.1:ssh") == Filter(.dst(.v4(.loopback), port: 22)))
    }

    @Test(
        "malformed expressions point at the offending token with what was expected",
        arguments: [
            ("dport = :notaport", 8, 9, "expected a port number or service name"),
            ("dport = :70000", 8, 6, "ports go from 0 to 65535"),
            ("state nosuch", 6, 6, "unknown state"),
            ("dport = :80 )", 12, 1, "unbalanced ')'"),
            ("( dport = :80", 0, 1, "expected ')'"),
            ("dst 10.0.0.0/40", 4, 11, "prefix length 40"),
            ("dst 300.1.1.1", 4, 9, "expected an address"),
            ("src 1.2.3.4:x1", 4, 10, "expected a port number or service name after ':'"),
            ("bogus", 0, 5, "unknown condition"),
            ("dport = :80 and", 15, 1, "expected a condition after 'and'"),
            ("and dport = :80", 0, 3, "expected a condition before 'and'"),
            ("src < 1.2.3.4", 4, 1, "'src' takes '=' or '!='"),
            ("", 0, 1, "expected a filter expression"),
        ])
    func errors(input: String, offset: Int, length: Int, message: String) {
        do {
            _ = try Filter(parsing: input)
            Issue.record("'\(input)' parsed")
        } catch {
            #expect(error.offset == offset, "\(error)")
            #expect(error.length == length, "\(error)")
            #expect(error.message.contains(message), "\(error)")
            if !input.isEmpty { #expect(error.description.contains(input)) }
            #expect(
                error.description.contains(
                    String(repeating: " ", count: offset) + String(repeating: "^", count: length)))
        }
    }
}

@Suite("Filter compiler: the cheapest kernel program")
struct FilterCompilerTests {
    func program(_ text: String, base: StateSet = .all) throws -> KernelProgram {
        try KernelProgram(Filter(parsing: text), baseStates: base, ephemeralPorts: PortRange(low: 40000, high: 40999)) {
            $0 == "lo" ? 1 : nil
        }
    }

    @Test("states go to idiag_states, never to bytecode")
    func states() throws {
        let p = try program("state established state time-wait")
        #expect(p.states == StateSet([.established, .timeWait]))
        #expect(p.bytecode.isEmpty)
        #expect(p.remainder == nil)
        #expect(
            try program("exclude listen", base: .ssDefault).states == StateSet.ssDefault.subtracting(StateSet(.listen)))
    }

    @Test("a single exact port goes to the request id, no bytecode")
    func exactPort() throws {
        let p = try program("dport = :443 and state established")
        #expect(p.remotePort == 443)
        #expect(p.localPort == nil)
        #expect(p.bytecode.isEmpty)
        #expect(p.states == StateSet(.established))
        let s = try program("sport = :22")
        #expect(s.localPort == 22)
        #expect(s.bytecode.isEmpty)
        let h = try program("dst *:8080")
        #expect(h.remotePort == 8080)
        #expect(h.bytecode.isEmpty)
    }

    @Test("state mixed with other conditions under or: user space, with states narrowed to what can match")
    func remainder() throws {
        let p = try program("dport >= :1000 and ( state established or dport = :80 )")
        #expect(p.remainder == .or(.state(StateSet(.established)), .dport(.equal, 80)))
        #expect(p.kernelExpression == .dport(.greaterOrEqual, 1000))
        #expect(p.states == .all)
        let q = try program("( state established or state syn-sent ) and not ( state established and dport = :1 )")
        #expect(q.states == StateSet([.established, .synSent]))
        #expect(q.remainder != nil)
        #expect(throws: FilterCompileError.autoboundInUserSpace) { try program("state listen or autobound") }
    }

    @Test("dev names resolve to indexes; unknown names are errors")
    func devices() throws {
        let p = try program("dev lo")
        #expect(p.kernelExpression == .device(.index(1)))
        #expect(p.bytecode == [9, 8, 12, 0, 1, 0, 0, 0])  // DEV_COND yes=8 no=12(reject), ifindex 1
        #expect(throws: FilterCompileError.unknownDevice("nosuch0")) { try program("dev nosuch0") }
    }

    @Test("bytecode bytes for a port range: S_GE, S_LE with the port in the second op's no field")
    func portRange() throws {
        let p = try program("sport >= :1024 and sport <= :2048")
        #expect(
            p.bytecode == [
                2, 8, 20, 0, 0, 0, 0x00, 0x04,  // S_GE yes=8 no=20 (reject: end + 4); port 1024
                3, 8, 12, 0, 0, 0, 0x00, 0x08,  // S_LE yes=8 no=12 (reject); port 2048
            ])
    }

    @Test("hostcond layout: family, prefix, padding, port (-1 = any), address in network order")
    func hostcond() throws {
        let p = try program("dst 10.0.0.0/8")
        #expect(
            p.bytecode == [
                8, 16, 20, 0,  // D_COND yes=16 no=20 (reject)
                2, 8, 0, 0,  // AF_INET, /8, padding
                0xFF, 0xFF, 0xFF, 0xFF,  // port -1: any
                10, 0, 0, 0,  // 10.0.0.0
            ])
    }

    /// Golden `--explain` output for representative filters.
    @Test(
        "explanations",
        arguments: [
            (
                "dport = :443 and state established",
                """
                kernel:
                  idiag_states: 0x0002 [established]
                  id.idiag_sport: any
                  id.idiag_dport: 443
                  bytecode: none
                user space: nothing (the kernel does all the filtering)
                """
            ),
            (
                "sport >= :1024 and sport <= :2048 or ( dst 10.0.0.0/8 and not dport = :22 )",
                """
                kernel:
                  idiag_states: 0x0fff [established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close, close-wait, last-ack, listen, closing]
                  id.idiag_sport: any
                  id.idiag_dport: any
                  bytecode: 48 bytes for ((sport >= :1024 and sport <= :2048) or (dst 10.0.0.0/8 and not dport = :22))
                    0:    S_GE      sport >= 1024                       yes -> 8  no -> 20
                    8:    S_LE      sport <= 2048                       yes -> 16  no -> 20
                    16:   JMP                                           yes -> 20  no -> accept
                    20:   D_COND    10.0.0.0/8 port any                 yes -> 36  no -> reject
                    36:   D_EQ      dport == 22                         yes -> 44  no -> accept
                    44:   JMP                                           yes -> accept  no -> reject
                user space: nothing (the kernel does all the filtering)
                """
            ),
            (
                "autobound and src [::1]",
                """
                kernel:
                  idiag_states: 0x0fff [established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close, close-wait, last-ack, listen, closing]
                  id.idiag_sport: any
                  id.idiag_dport: any
                  bytecode: 48 bytes for (autobound and src [::1])
                    0:    AUTO                                          yes -> 4  no -> reject
                    4:    S_GE      sport >= 40000                      yes -> 12  no -> reject
                    12:   S_LE      sport <= 40999                      yes -> 20  no -> reject
                    20:   S_COND    [::1]/128 port any                  yes -> accept  no -> reject
                user space: nothing (the kernel does all the filtering)
                """
            ),
        ])
    func explain(filter: String, expected: String) throws {
        #expect(try program(filter).explanation == expected)
    }
}

@Suite("Filter compiler: edge cases")
struct FilterCompilerEdgeTests {
    @Test("port 0 never goes to the request id (0 there means any port)")
    func portZero() throws {
        let p = try KernelProgram(Filter(parsing: "dport = :0"))
        #expect(p.remotePort == nil)
        #expect(!p.bytecode.isEmpty)
    }
}
