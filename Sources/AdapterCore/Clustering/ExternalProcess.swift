import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command in its own process group with a deadline, collecting stdout and stderr through
/// non-blocking pipes. On timeout or task cancellation the whole group is killed (SIGKILL), so
/// grandchildren a script started do not outlive it.
///
/// The child is supervised on a thread of its own, not on Swift's cooperative pool: a deadline must
/// hold even while every pool thread is busy with CPU-bound work (merges, scoring), which on a
/// 2-core device is the normal case during a re-cluster.
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
        case timedOut(stdout: [UInt8], stderr: [UInt8])
        case cancelled
    }

    /// - Parameter outputLimit: bytes kept per stream; the rest is read and discarded.
    static func run(_ argv: [String], timeout: Double, outputLimit: Int = 1 << 20) async throws -> Outcome {
        let cancelled = Mutex(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Outcome, any Error>) in
                let supervisor = Thread {
                    continuation.resume(with: Result {
                        try runBlocking(argv, timeout: timeout, outputLimit: outputLimit) {
                            cancelled.withLock { $0 }
                        }
                    })
                }
                supervisor.name = "adapterd external process"
                supervisor.start()
            }
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
    }

    /// Spawns and supervises the child on the calling thread, which it blocks until the child ends.
    private static func runBlocking(
        _ argv: [String], timeout: Double, outputLimit: Int, isCancelled: () -> Bool
    ) throws -> Outcome {
        precondition(!argv.isEmpty)
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
        let spawnResult = posix_spawnp(&pid, argv[0], &actions, &attributes, cArguments, environ)
        close(outPipe[1])
        close(errPipe[1])
        guard spawnResult == 0 else {
            close(outPipe[0]); close(errPipe[0])
            throw Failure.launch(errno: spawnResult)
        }
        let outFD = outPipe[0], errFD = errPipe[0]
        defer { close(outFD); close(errFD) }
        for fd in [outFD, errFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

        var out = Collector(limit: outputLimit)
        var err = Collector(limit: outputLimit)
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64((max(0, timeout) * 1000).rounded()))
        var status: Int32 = 0
        var exitedAt: ContinuousClock.Instant?
        while true {
            out.drain(outFD)
            err.drain(errFD)
            if exitedAt == nil, waitpid(pid, &status, WNOHANG) == pid { exitedAt = clock.now }
            if let exited = exitedAt {
                // Wait briefly for the pipes to close; a leftover grandchild holding them is killed.
                if out.closed && err.closed { break }
                if clock.now - exited > .milliseconds(500) { kill(-pid, SIGKILL); break }
            } else if clock.now >= deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure.timedOut(stdout: out.bytes, stderr: err.bytes)
            } else if isCancelled() {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure.cancelled
            }
            var fds = [pollfd(fd: outFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, nfds_t(fds.count), 5)
        }
        let low = status & 0x7f
        if low == 0 {
            return Outcome(exitCode: (status >> 8) & 0xff, signal: nil, stdout: out.bytes, stderr: err.bytes)
        }
        return Outcome(exitCode: nil, signal: low, stdout: out.bytes, stderr: err.bytes)
    }

    /// Accumulates what a non-blocking pipe has to offer, up to a limit.
    private struct Collector {
        let limit: Int
        var bytes: [UInt8] = []
        var closed = false

        init(limit: Int) { self.limit = limit }

        mutating func drain(_ fd: Int32) {
            guard !closed else { return }
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = max(0, limit - bytes.count)
                    if room > 0 { bytes.append(contentsOf: buffer[0..<min(n, room)]) }
                } else if n == 0 {
                    closed = true
                    return
                } else {
                    if errno == EINTR { continue }
                    if errno != EAGAIN && errno != EWOULDBLOCK { closed = true }
                    return
                }
            }
        }
    }
}
