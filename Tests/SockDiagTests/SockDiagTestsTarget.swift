// The unit suites of SockDiag (parsers, layouts, models) live in this target; the live-kernel suites are in
// SockDiagLiveTests and the CLI suites in sockscanTests. This file keeps the target buildable on its own.
