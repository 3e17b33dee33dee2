import ArgumentParser
import Logging
import SockDiag
import SockFormat

#if canImport(Glibc)
    import Glibc
#endif

/// stderr messages and exit codes.
package enum Console {
    /// Writes one line to stderr.
    package static func warn(_ message: String) {
        var w = TextWriter()
        w.write(message)
        w.write(byte: UInt8(ascii: "\n"))
        try? w.flush(to: STDERR_FILENO)
    }

    /// Sends every library logger's messages to stderr, one line each: `warning: TEXT` (`PREFIX: warning:
    /// TEXT` for a logger labelled `sockscan record` and the like). Called once, first thing in `main`.
    package static func installLogHandler() {
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label) }
    }

    /// A logger whose lines start with `prefix: ` (`sockscan record: warning: …`), or with nothing.
    package static func logger(prefix: String? = nil) -> Logger {
        Logger(label: prefix ?? "sockscan")
    }
}

/// A swift-log handler printing `warning: MESSAGE` lines to stderr, as sockscan always has.
struct ConsoleLogHandler: LogHandler {
    /// The logger's label: `sockscan` prints bare lines, another label prefixes them with `LABEL: `.
    let label: String
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prefix = label == "sockscan" || label.hasPrefix("sockscan.") ? "" : "\(label): "
        Console.warn(
            "\(prefix)\(event.level >= .error ? "error" : event.level >= .warning ? "warning" : "note"): \(event.message)"
        )
    }
}

/// A usage error found while running (a device the scanned namespace lacks, a filter the kernel cannot
/// take): printed as ArgumentParser prints one, with the subcommand's usage, and exit status 64.
package struct UsageError: Error {
    package var message: String
    package init(message: String) { self.message = message }
}

/// A runtime failure worded for the user (what failed, why, what to do): printed as `sockscan: MESSAGE`, exit 1.
package struct CommandFailure: Error, CustomStringConvertible {
    package var description: String
    package init(_ message: String) { description = message }
}

extension ParsableCommand {
    /// Runs a command's work and turns its failures into what users see: a usage error with this
    /// subcommand's usage line and exit 64; a runtime failure as one line on stderr and exit 1; a closed
    /// pipe as a quiet exit 0.
    package func runtime<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as OutputError {
            guard case .failed(let code) = error else { throw ExitCode.success }  // the reader left (| head)
            Console.warn("sockscan: cannot write to standard output: \(String(cString: strerror(code)))")
            throw ExitCode.failure
        } catch let error as ValidationError {
            throw usageFailure(error.message)
        } catch let error as ExitCode {
            throw error
        } catch let error as UsageError {
            throw usageFailure(error.message)
        } catch let error as FilterCompileError {
            throw usageFailure(error.description)
        } catch let error as SockDiagError where error.category == .usage {
            throw usageFailure(error.description)
        } catch {
            Console.warn("sockscan: \(error)")
            throw ExitCode.failure
        }
    }

    /// Prints `message` with this subcommand's usage, as ArgumentParser prints a validation error, and
    /// returns the exit status to throw (64).
    private func usageFailure(_ message: String) -> ExitCode {
        // `sockscan count` either way: as `sockscan` runs it, a command of `sockscan` whose usage line says so
        // already; as `sockscan-full` does, a subcommand named `count`.
        let usage = SockScanRoot.runsCommandAsRoot ? Self.usageString() : "sockscan " + Self.usageString()
        Console.warn("Error: \(message)\nUsage: \(usage)\n" + SockScanRoot.helpPointer(for: Self._commandName))
        return ExitCode.validationFailure
    }
}
