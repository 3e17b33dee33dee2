import Foundation
import SockDiag
import SockScanTestSupport
import Testing

/// What a black-box review of the CLI found: `ss` habits (`-n`), messages with a reason, usage errors
/// where usage is wrong, help that fits 80 columns, and output that agrees with `ss`.
extension CLITests {
    @Test(
        "-n / --numeric is accepted (ss habit: -tan, -tlnp, -tuln) and changes nothing",
        arguments: [["-tan"], ["-tlnp"], ["-tuln"], ["-ta", "--numeric"], ["-t", "-a", "-n"]])
    func numericIsAccepted(arguments: [String]) throws {
        let fixture = try CLIFixture.require()
        let with = try fixture.sockscan("list", arguments + ["-H"])
        #expect(with.status == 0, "\(arguments): \(with)")
        let without = arguments.map { $0.replacingOccurrences(of: "n", with: "") }.filter {
            $0 != "-" && $0 != "--umeric"
        }
        let plain = try fixture.sockscan("list", without + ["-H"])
        #expect(plain.status == 0, "\(without): \(plain)")
        // -p rows name this test process, whose children may come and go: compare the socket rows.
        #expect(Set(with.lines.map(Self.withoutUsers)) == Set(plain.lines.map(Self.withoutUsers)))
        let count = try fixture.sockscan("count", arguments.filter { !$0.contains("p") })
        #expect(count.status == 0, "\(count)")
    }
}

/// Usage and help checks that need no sockets.
@Suite("sockscan CLI usage")
struct CLIUsageTests {
    @Test("list --help says -n is accepted and ignored")
    func numericHelp() throws {
        let help = try SockscanBinary.run(["list", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("-n, --numeric"), "\(help.stdout)")
    }
}
