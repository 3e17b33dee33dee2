import SockDiag

/// Starts counting closed connections with `start` (watch, record and serve count them with a
/// `ChurnCollector`); when it cannot, says once, through `warn`, what is left out and why, and lets the
/// command go on without it.
///
/// - Parameter what: what goes missing, for the message (`the closes/s column`).
/// - Returns: whether counting started.
func startCountingCloses(leavingOut what: String, warn: (String) -> Void, _ start: () throws -> Void) -> Bool {
    do {
        try start()
        return true
    } catch {
        warn("warning: \(what) is left out: cannot count closed connections: \(error)")
    }
    return false
}
