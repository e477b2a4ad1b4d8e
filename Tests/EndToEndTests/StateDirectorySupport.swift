import AdapterProtocol
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the storage-fault tests need around a real daemon: the files of a state directory, a
/// client call whose whole response is kept, accepted corpus adapters (and variants of them with
/// other bytes), damaging a stored object in place, and small file systems (root only).
enum StateDirectory {
    /// The object files under `<state>/objects`, as `ab/abcd…` paths.
    static func objects(_ state: String) -> Set<String> {
        var found = Set<String>()
        let root = state + "/objects"
        for fanOut in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + fanOut)) ?? [] {
                found.insert(fanOut + "/" + name)
            }
        }
        return found
    }

    static func objectPath(_ state: String, sha256: String) -> String {
        state + "/objects/" + sha256.prefix(2) + "/" + sha256
    }

    /// Flips one bit of the byte at `offset` (from the middle when nil), keeping the file's size.
    static func flipBit(_ path: String, offset: Int? = nil) throws {
        chmod(path, 0o600)
        defer { chmod(path, 0o400) }
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let position = offset ?? data.count / 2
        data[position] ^= 0x10
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: data)
        try handle.synchronize()
        try handle.close()
    }

    static func sha256(ofFile path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }
}

/// One JSON-RPC call through the python client, with its response (result or error) as JSON.
struct Call {
    let response: [String: Any]

    init(_ socket: String, _ method: String, _ params: String? = nil) throws {
        let result = try python(socket, ["call", method] + (params.map { [$0] } ?? []))
        guard let json = result.json else {
            throw HarnessError("\(method): no JSON response (status \(result.status)): \(result.stdout) \(result.stderr)")
        }
        response = json
    }

    var result: [String: Any]? { response["result"] as? [String: Any] }
    var error: [String: Any]? { response["error"] as? [String: Any] }
    var errorCode: Int? { error?["code"] as? Int }
    var errorMessage: String { error?["message"] as? String ?? "" }
}

/// A corpus adapter the detector accepted, as files to install (possibly a variant written to disk).
struct InstallableAdapter {
    let directory: String
    let examples: String
    let sha256: String

    /// Installs it as `task` through the python client; the response (an `error` member with the
    /// client's complaint when there is none).
    @discardableResult
    func install(_ socket: String, task: String) -> [String: Any] {
        do {
            let result = try python(socket, ["install", task, directory, examples])
            return (result.json?["response"] as? [String: Any]) ?? ["error": ["message": result.stderr]]
        } catch {
            return ["error": ["message": "\(error)"]]
        }
    }

    /// The same adapter with the lowest bit of one weight byte flipped (other bytes and sha256, the
    /// same behaviour to a unit in the last place of one number), written under `root`.
    func variant(_ index: Int, under root: String) throws -> InstallableAdapter {
        var weights = try Data(contentsOf: URL(fileURLWithPath: directory + "/adapter_model.safetensors"))
        let headerLength = weights.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        let dataStart = 8 + headerLength
        let position = dataStart + (index * 2) % max(1, weights.count - dataStart)
        weights[position] ^= 1
        let target = root + "/variant-\(index)"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: directory + "/adapter_config.json", toPath: target + "/adapter_config.json")
        try weights.write(to: URL(fileURLWithPath: target + "/adapter_model.safetensors"))
        return InstallableAdapter(directory: target, examples: examples, sha256: try StateDirectory.sha256(ofFile: target + "/adapter_model.safetensors"))
    }

    /// The first `count` benign corpus adapters this daemon accepts (each installed once as a probe
    /// task, removed again), the smallest first when `smallest`.
    static func accepted(_ count: Int, socket: String, smallest: Bool = false) throws -> [InstallableAdapter] {
        var found: [InstallableAdapter] = []
        var candidates = try Corpus.adapters().filter { !$0.poisoned }
        if smallest {
            let size = { (adapter: CorpusAdapter) in
                (try? FileManager.default.attributesOfItem(atPath: adapter.directory + "/adapter_model.safetensors")[.size] as? Int) ?? Int.max
            }
            candidates.sort { size($0) < size($1) }
        }
        for adapter in candidates.prefix(16) where found.count < count {
            let candidate = InstallableAdapter(
                directory: adapter.directory, examples: adapter.examples,
                sha256: try StateDirectory.sha256(ofFile: adapter.directory + "/adapter_model.safetensors"))
            if candidate.install(socket, task: "probe")["result"] != nil && !found.contains(where: { $0.sha256 == candidate.sha256 }) {
                found.append(candidate)
            }
        }
        _ = try Call(socket, "remove", #"{"task":"probe"}"#)
        guard found.count == count else { throw HarnessError("the detector accepted \(found.count) of \(count) benign corpus adapters") }
        return found
    }
}

/// A file system mounted for one test (root only): a small tmpfs, or a read-only bind mount.
final class TestMount {
    let path: String

    private init(path: String) { self.path = path }

    /// A tmpfs of `kibibytes` at `path` (created).
    static func tmpfs(at path: String, kibibytes: Int) throws -> TestMount {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let result = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k,mode=0700", "tmpfs", path])
        guard result.status == 0 else { throw HarnessError("cannot mount a tmpfs: \(result.stderr)") }
        return TestMount(path: path)
    }

    /// `path` bound onto itself read-only.
    static func readOnlyBind(_ path: String) throws -> TestMount {
        let bind = try run("/bin/mount", ["--bind", path, path])
        guard bind.status == 0 else { throw HarnessError("cannot bind-mount \(path): \(bind.stderr)") }
        let remount = try run("/bin/mount", ["-o", "remount,ro,bind", path])
        guard remount.status == 0 else {
            _ = try? run("/bin/umount", [path])
            throw HarnessError("cannot remount \(path) read-only: \(remount.stderr)")
        }
        return TestMount(path: path)
    }

    /// Bytes free for an unprivileged writer.
    var freeBytes: Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    func unmount() {
        _ = try? run("/bin/umount", [path])
    }

    static var isRoot: Bool { getuid() == 0 }
}
