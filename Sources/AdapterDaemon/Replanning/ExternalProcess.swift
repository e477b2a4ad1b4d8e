import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command in its own process group with a deadline, collecting stdout and stderr.
///
/// The child is supervised by a dedicated thread (poll on the pipes, waitpid), not by the Swift
/// concurrency pool, so the timeout is enforced on time even when the pool is busy with other
/// work. On timeout or task cancellation the whole group is killed (SIGKILL), so grandchildren a
/// script started do not outlive it.
enum ExternalProcess {
    struct Outcome: Sendable {
        /// Exit code when the process exited normally.
        var exitCode: Int32?
        /// Signal number when the process was killed by a signal.
        var signal: Int32?
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    enum Failure: Error, Sendable {
        case launch(errno: Int32)
        /// `killedAfter`: seconds from launch to the kill, measured by the supervising thread.
        case timedOut(stdout: [UInt8], stderr: [UInt8], killedAfter: Double)
        case cancelled
    }

    private struct Child: Sendable {
        let pid: pid_t
        let outFD: Int32
        let errFD: Int32
    }

    /// Shared between the supervising thread and a cancellation handler.
    private struct State {
        var reaped = false
        var cancelled = false
    }

    private final class SharedState: Sendable {
        let mutex = Mutex(State())
    }

    /// - Parameter outputLimit: bytes kept per stream; the rest is read and discarded.
    static func run(_ argv: [String], timeout: Double, outputLimit: Int = 1 << 20) async throws -> Outcome {
        let child = try spawn(argv)
        let state = SharedState()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, Error>) in
                let thread = Thread {
                    continuation.resume(with: supervise(child, timeout: timeout, limit: outputLimit, state: state))
                }
                thread.name = "adapterd-evaluator-\(child.pid)"
                thread.start()
            }
        } onCancel: {
            state.mutex.withLock { s in
                s.cancelled = true
                if !s.reaped { kill(-child.pid, SIGKILL) }
            }
        }
    }

    private static func spawn(_ argv: [String]) throws -> Child {
        guard let program = argv.first else { throw Failure.launch(errno: EINVAL) }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw Failure.launch(errno: errno) }
        guard pipe(&errPipe) == 0 else {
            let e = errno
            close(outPipe[0]); close(outPipe[1])
            throw Failure.launch(errno: e)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        #if canImport(Glibc)
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #else
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for p in cArguments { free(p) } }
        var pid: pid_t = 0
        let spawnResult = posix_spawnp(&pid, program, &actions, &attributes, cArguments, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard spawnResult == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw Failure.launch(errno: spawnResult)
        }
        return Child(pid: pid, outFD: outPipe[0], errFD: errPipe[0])
    }

    /// Blocking supervision loop, run on its own thread.
    private static func supervise(_ child: Child, timeout: Double, limit: Int,
                                  state: SharedState) -> Result<Outcome, Error> {
        defer { close(child.outFD); close(child.errFD) }
        var out = Collector(limit: limit)
        var err = Collector(limit: limit)
        let clock = ContinuousClock()
        let start = clock.now
        // Saturates: a timeout from the configuration file may be any finite number (1e300 must not trap).
        let deadline = start + .milliseconds(Int64(min(max(0, timeout) * 1000, 1e15).rounded()))
        var status: Int32 = 0
        var exitedAt: ContinuousClock.Instant?

        func reap(blocking: Bool) -> Bool {
            state.mutex.withLock { s in
                guard !s.reaped else { return true }
                if waitpid(child.pid, &status, blocking ? 0 : WNOHANG) == child.pid { s.reaped = true }
                return s.reaped
            }
        }

        while true {
            // Wait up to 20 ms for output, then read whatever is there.
            var fds = [pollfd(fd: child.outFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: child.errFD, events: Int16(POLLIN), revents: 0)]
            if out.closed { fds[0].fd = -1 }
            if err.closed { fds[1].fd = -1 }
            _ = poll(&fds, nfds_t(fds.count), 20)
            if fds[0].revents != 0 { out.consume(child.outFD) }
            if fds[1].revents != 0 { err.consume(child.errFD) }

            if exitedAt == nil, reap(blocking: false) { exitedAt = clock.now }
            if let exited = exitedAt {
                // Wait briefly for the pipes to close; leftover grandchildren holding them are killed.
                if out.closed && err.closed { break }
                if clock.now - exited > .milliseconds(500) {
                    kill(-child.pid, SIGKILL)
                    break
                }
                continue
            }
            if state.mutex.withLock({ $0.cancelled }) {
                kill(-child.pid, SIGKILL)
                _ = reap(blocking: true)
                return .failure(Failure.cancelled)
            }
            if clock.now >= deadline {
                kill(-child.pid, SIGKILL)
                let killedAfter = clock.now - start
                _ = reap(blocking: true)
                let seconds = Double(killedAfter.components.seconds) + Double(killedAfter.components.attoseconds) * 1e-18
                return .failure(Failure.timedOut(stdout: out.bytes, stderr: err.bytes, killedAfter: seconds))
            }
        }
        // The cancellation handler may have killed the child before the loop saw the flag: the child
        // then looks like it died by SIGKILL, but the caller cancelled, and must hear so.
        if state.mutex.withLock({ $0.cancelled }) { return .failure(Failure.cancelled) }
        let low = status & 0x7f
        if low == 0 {
            return .success(Outcome(exitCode: (status >> 8) & 0xff, signal: nil, stdout: out.bytes, stderr: err.bytes))
        }
        return .success(Outcome(exitCode: nil, signal: low, stdout: out.bytes, stderr: err.bytes))
    }

    /// Accumulates what a pipe has to offer, up to a limit; `closed` at end of file or on an error.
    private struct Collector {
        let limit: Int
        var bytes: [UInt8] = []
        var closed = false

        init(limit: Int) { self.limit = limit }

        /// One read (the pipe was reported readable, so it does not block).
        mutating func consume(_ fd: Int32) {
            guard !closed else { return }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                let room = max(0, limit - bytes.count)
                if room > 0 { bytes.append(contentsOf: buffer[0..<min(n, room)]) }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                closed = true
            }
        }
    }
}
