import ArgumentParser

/// The commands that record, report and serve: they need SQLite (GRDB), SwiftNIO and Foundation, so they live
/// in the companion executable `sockscan-full` only.
public enum SockScanServiceRoot {
    /// `record`, `watch`, `report`, `metrics`, `serve`, in the order the help lists them.
    public static let serviceCommands: [ParsableCommand.Type] = [
        Record.self, Watch.self, Report.self, Metrics.self, Serve.self,
    ]
}
