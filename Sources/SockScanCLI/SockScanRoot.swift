import ArgumentParser
import SockDiag

#if canImport(Glibc)
    import Glibc
#endif

/// What the two `sockscan` executables share: the root command's text, the subcommands, and what `main` does
/// before ArgumentParser runs.
///
/// `sockscan` holds the scan commands (`list`, `count`, `ports`, `churn`, `summary`, `events`, `kill`): the ones
/// scripts run every few seconds, kept free of Foundation, SQLite and SwiftNIO so that they start in a few milliseconds. The
/// commands that record, report and serve (`record`, `watch`, `report`, `metrics`, `serve`) live in the
/// companion `sockscan-full` (installed beside it, or in `lib/sockscan/`), which holds every command; `sockscan`
/// hands those over to it with `execv` before parsing anything, and the top-level help, `help`, completion
/// scripts and man pages too, so that they describe the whole command.
///
/// `sockscan` itself has no command tree: it picks the scan command by its first argument (`list` when the first
/// argument is not a command name, which is what a `defaultSubcommand` does) and runs that command as the root
/// of its own parse, as a command of `sockscan` (see ``ScanCommand``). ArgumentParser would otherwise parse the root
/// command first, build the default subcommand's arguments whichever command runs, and check the commands of the
/// tree for passthrough arguments: 4.2M of the 20.8M instructions `sockscan count` took to start.
public enum SockScanRoot {
    /// The version both executables print.
    public static let version = "0.1.0"

    /// The root command's configuration (`sockscan-full`), with `subcommands`; `list` is the default.
    public static func configuration(subcommands: [ParsableCommand.Type]) -> CommandConfiguration {
        CommandConfiguration(
            commandName: "sockscan",
            abstract: "List and count sockets through the kernel's sock_diag interface, filtered in the kernel.",
            discussion: """
                Examples:
                  sockscan list -ta                      all TCP sockets, like ss -tan
                  sockscan list -t state time-wait --format json
                  sockscan count -tua                    TCP and UDP sockets per state
                  sockscan ports                         which destination runs out of ports
                  sockscan churn                         closes per second, time to exhaustion
                  sockscan summary                       sar -n SOCK / ss -s totals, TCP states
                  sockscan events                        connections as they end, like ss -E
                  sockscan kill dst 10.0.0.5:443         close one upstream's connections
                  sockscan record --db history.db        sample every 10 s (a service)
                  sockscan report --db history.db --every 1m --chart tw.svg
                  sockscan serve                         Prometheus metrics on 127.0.0.1:9464
                """,
            version: version,
            subcommands: subcommands,
            defaultSubcommand: List.self
        )
    }

    /// The commands of `sockscan` itself, in the order the help lists them.
    public static let scanCommands: [any ScanCommand.Type] = [
        List.self, Count.self, Ports.self, Churn.self, Summary.self, Events.self, Kill.self,
    ]

    /// The commands only `sockscan-full` holds, in the order the help lists them after the scan commands.
    public static let serviceCommandNames = ["record", "watch", "report", "metrics", "serve"]

    /// The companion's file name.
    public static let companionName = "sockscan-full"

    /// Whether this process runs a scan command as the root of its parse (`sockscan`), rather than as a
    /// subcommand of the `sockscan` tree (`sockscan-full`). Set once by ``runScanCommand()``, before parsing.
    nonisolated(unsafe) package private(set) static var runsCommandAsRoot = false

    /// `sockscan`: runs the scan command the arguments name, or `list` when they name none, as the root of its
    /// parse; hands the arguments over to the companion when they ask for what only it has.
    public static func runScanCommand() -> Never {
        prepareProcess()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let request = companionRequest(arguments) { Companion.exec(arguments, for: request) }
        let (command, rest) = scanCommand(for: arguments)
        runsCommandAsRoot = true
        // ArgumentParser's `main`, but for the last line of a usage error (see ``asRoot(_:)``).
        var parsed: any ParsableCommand
        do {
            parsed = try command.parseAsRoot(joiningFilterWords(rest))
        } catch {
            let status = command.exitCode(for: error)
            guard status.rawValue == ExitCode.validationFailure.rawValue else { command.exit(withError: error) }
            Console.warn(namingSockscan(command.fullMessage(for: error), command: command._commandName))
            exit(status.rawValue)
        }
        do {
            try parsed.run()
        } catch {
            command.exit(withError: error)
        }
        exit(0)
    }

    /// ArgumentParser's message for a usage error of `command` parsed as a command of `sockscan`, whose last line
    /// names the command alone ("See 'count --help' for more information."), with that line naming it as it is
    /// typed: `sockscan count`. Any other message is returned as it is.
    static func namingSockscan(_ message: String, command: String) -> String {
        let alone = "\n  See '\(command) --help' for more information."
        guard message.hasSuffix(alone) else { return message }
        return message.dropLast(alone.count) + "\n" + helpPointer(for: command)
    }

    /// The last line of a usage error: where the command's help is, named as it is typed (`sockscan count`).
    static func helpPointer(for command: String) -> String {
        "  See 'sockscan \(command) --help' for more information."
    }

    /// `sockscan-full`: runs `root`, the whole command tree: the `help NOSUCH` check, then ArgumentParser.
    public static func main<Root: ParsableCommand>(_ root: Root.Type) -> Never {
        prepareProcess()
        let arguments = Array(CommandLine.arguments.dropFirst())
        // ArgumentParser answers `help NOSUCH` with the top-level help and status 0: a typo would go unseen.
        if arguments.first == "help", let topic = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) {
            let names = scanCommands.map { $0.subcommandConfiguration.commandName ?? "" } + serviceCommandNames
            if !names.contains(topic) && topic != "help" {
                Root.exit(
                    withError: ValidationError(
                        "unknown subcommand '\(topic)'; the subcommands are \(names.joined(separator: ", "))"))
            }
        }
        Root.main(joiningFilterWords(arguments))
        exit(0)
    }

    /// What every command relies on: the standard descriptors, the log handler, SIGPIPE ignored, stdout
    /// flushed (or the failure said) at exit.
    private static func prepareProcess() {
        occupyClosedStandardDescriptors()
        // The library's warnings (a fallback to /proc, a missing diag module) as `warning: …` lines on stderr.
        Console.installLogHandler()
        // `sockscan list | head -1`: a write to the closed pipe must fail with EPIPE (which the output
        // code turns into a quiet exit 0), not kill the process with SIGPIPE (status 141).
        signal(SIGPIPE, SIG_IGN)
        // What ArgumentParser prints (help, version, completion scripts) goes through stdio's buffer: a
        // failed write (`--help >/dev/full`) shows only when it is flushed at exit, where it would pass
        // unseen with status 0.
        atexit(flushStandardOutputOrFail)
    }

    /// The scan command `arguments` name and the arguments after its name; `list` and all of `arguments` when
    /// the first is not a command name (`sockscan`, `sockscan -ta`, `sockscan --version`).
    static func scanCommand(for arguments: [String]) -> (any ScanCommand.Type, [String]) {
        if let first = arguments.first,
            let command = scanCommands.first(where: { $0.subcommandConfiguration.commandName == first })
        {
            return (command, Array(arguments.dropFirst()))
        }
        return (List.self, arguments)
    }

    /// What `arguments` ask of the companion, worded for the message when it is missing, or `nil` when
    /// `sockscan` answers them itself: one of its commands, or what describes the whole command — the top-level
    /// help, `help`, completion scripts, the help dump man pages are made from.
    ///
    /// This follows where ArgumentParser looks for them in `sockscan-full`'s tree: `-h`/`--help` first, or as the
    /// only argument (in a cluster too: `-ht`, `--help=x`); the completion and dump options anywhere before `--`.
    static func companionRequest(_ arguments: [String]) -> String? {
        guard let first = arguments.first else { return nil }
        let companion = companionName
        if serviceCommandNames.contains(first) { return "'\(first)' is a command of \(companion)" }
        if first == "help" || first == "-h" || first == "--help"
            || (arguments.count == 1 && asksForHelp(first))
        {
            return "the help of the whole command comes from \(companion)"
        }
        let options = arguments.prefix { $0 != "--" }
        if options.contains(where: {
            $0 == "--experimental-dump-help" || $0 == "--generate-completion-script"
                || $0.hasPrefix("--generate-completion-script=")
        }) {
            return "completion scripts and the help dump come from \(companion)"
        }
        return nil
    }

    /// Whether ArgumentParser reads `argument` as a help request: `--help`, `--help=…`, or a cluster of short
    /// options with `h` among them (`-ht`, `-help`).
    private static func asksForHelp(_ argument: String) -> Bool {
        if argument == "--help" || argument.hasPrefix("--help=") { return true }
        guard argument.hasPrefix("-"), !argument.hasPrefix("--") else { return false }
        return argument.dropFirst().prefix { $0 != "=" }.contains("h")
    }
}

/// A command of `sockscan`, which it runs as the root of its parse (``SockScanRoot/runScanCommand()``).
///
/// Its configuration names it `count` in the command tree of `sockscan-full`, and declares it a command of
/// `sockscan` when it is the root, so that usage lines, help and error messages say `sockscan count` either way.
public protocol ScanCommand: ParsableCommand {
    /// The configuration as a subcommand of `sockscan` (`commandName: "count"`), with the version.
    static var subcommandConfiguration: CommandConfiguration { get }

    /// ``subcommandConfiguration`` as the root: `SockScanRoot.asRoot(subcommandConfiguration)`, made once.
    static var rootConfiguration: CommandConfiguration { get }
}

extension ScanCommand {
    /// ``rootConfiguration`` in `sockscan`, ``subcommandConfiguration`` in `sockscan-full`.
    public static var configuration: CommandConfiguration {
        SockScanRoot.runsCommandAsRoot ? rootConfiguration : subcommandConfiguration
    }
}

extension SockScanRoot {
    /// `configuration` as the root of the parse: a command of `sockscan` (ArgumentParser's `_superCommandName`),
    /// so that its usage line and help say `sockscan count`.
    ///
    /// Declared so, ArgumentParser also skips the parse that looks for `--generate-completion-script` (which
    /// `sockscan` hands to the companion before parsing): 1.1M of the 13.3M instructions a start took. Its
    /// usage errors then end with "See 'count --help'", which ``runScanCommand()`` makes "See 'sockscan count
    /// --help'" (``namingSockscan(_:command:)``); a run-time usage error says `sockscan count` itself
    /// (`ParsableCommand.runtime`).
    public static func asRoot(_ configuration: CommandConfiguration) -> CommandConfiguration {
        var root = configuration
        root._superCommandName = "sockscan"
        return root
    }
}

/// The companion executable, `sockscan-full`.
enum Companion {
    /// Where it may be, beside this executable or in the package's library directory, in order.
    static func candidates() -> [String] {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return [] }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let name = SockScanRoot.companionName
        return [
            "\(directory)/\(name)", "\(directory)/../lib/sockscan/\(name)", "\(directory)/../libexec/sockscan/\(name)",
        ]
    }

    /// Replaces this process with the companion, run with `arguments`; exits 1 with a message when there is
    /// none to run, saying what needed it (`request`: "'record' is a command of sockscan-full").
    static func exec(_ arguments: [String], for request: String) -> Never {
        let candidates = candidates()
        for path in candidates where access(path, X_OK) == 0 {
            let argv = ([path] + arguments).map { strdup($0) } + [nil]
            execv(path, argv)
            Console.warn("sockscan: cannot run \(path): \(String(cString: strerror(errno)))")
            exit(1)
        }
        Console.warn(
            "sockscan: \(request), which is not installed beside sockscan (looked for "
                + "\(candidates.joined(separator: ", "))); install the package or run make install")
        exit(1)
    }
}

/// Flushes stdio's stdout at exit; when that fails (`--help > /dev/full`), says so and exits 1. A reader
/// that left (`--experimental-dump-help | head -1`: EPIPE) is no failure, as for the commands' own output.
private func flushStandardOutputOrFail() {
    // fflush(nil) flushes every output stream (stdio's stdout is the only buffered one here) and fails
    // when one fails.
    if fflush(nil) == 0 || errno == EPIPE { return }
    let reason = String(cString: strerror(errno))
    Console.warn("sockscan: cannot write to standard output: \(reason)")
    _exit(1)
}

/// Gives each of fds 0, 1 and 2 that the program was started without (`sockscan count -ta >&-`) to
/// `/dev/null`, opened so that using it as intended fails with `EBADF`: stdin write-only, stdout and
/// stderr read-only.
///
/// Otherwise the first file or socket the program opens takes the free number, and the output meant for
/// the closed stdout goes into it (into the netlink socket: exit 0, nothing said). Held this way, a write
/// to a closed stdout fails as it would have, and the usual write-error path reports it ("cannot write
/// to standard output: Bad file descriptor", exit 1).
func occupyClosedStandardDescriptors() {
    for fd in STDIN_FILENO...STDERR_FILENO where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
        // The lower ones are open by now, so open() returns fd itself.
        let null = open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY)
        if null >= 0 && null != fd {
            dup2(null, fd)
            close(null)
        }
    }
}
