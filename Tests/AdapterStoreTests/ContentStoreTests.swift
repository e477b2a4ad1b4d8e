import Foundation
import Testing
@testable import AdapterStore

@Suite("Content-addressed objects: put, read, crash leftovers")
struct ContentStoreTests {
    @Test("digests are SHA-256 in lowercase hex")
    func knownDigest() throws {
        #expect(ContentDigest.of(Data("abc".utf8)).hex
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentDigest(hex: String(repeating: "A", count: 64))?.hex == String(repeating: "a", count: 64))
        #expect(ContentDigest(hex: String(repeating: "g", count: 64)) == nil)
        #expect(ContentDigest(hex: "abc") == nil)
        let json = try JSONEncoder().encode([ContentDigest.of(Data())])
        #expect(try JSONDecoder().decode([ContentDigest].self, from: json) == [ContentDigest.of(Data())])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ContentDigest].self, from: Data("[\"../x\"]".utf8)) }
    }

    @Test("put then read returns the bytes; the object sits at objects/<2>/<64>, read-only")
    func roundTrip() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let data = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let digest = try store.put(data)
        #expect(digest == ContentDigest.of(data))
        #expect(try store.read(digest) == data)
        #expect(try store.contains(digest))
        let url = store.url(for: digest)
        #expect(url.path == temp.state.path + "/objects/\(digest.hex.prefix(2))/\(digest.hex)")
        let info = try #require(try fileStatus(url.path))
        #expect(info.isRegularFile && info.size == data.count && info.permissions == 0o400)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/tmp").isEmpty)
        // The same bytes again: success, same object.
        #expect(try store.put(data) == digest)
        #expect(try store.read(digest) == data)
        // Empty data is a valid object too.
        #expect(try store.read(try store.put(Data())) == Data())
    }

    @Test("read verifies the digest and reports missing objects")
    func readVerifies() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let digest = try store.put(Data("original bytes".utf8))
        try overwrite(store.url(for: digest).path, with: Data("tampered bytes".utf8))
        let corrupted = try #require(throws: StoreError.self) { try store.read(digest) }
        #expect(corrupted.code == .digestMismatch)
        let missing = try #require(throws: StoreError.self) { try store.read(ContentDigest.of(Data("never stored".utf8))) }
        #expect(missing.code == .objectMissing)
        #expect(try !store.contains(ContentDigest.of(Data("never stored".utf8))))
    }

    @Test("put replaces a truncated or corrupted object left at its path")
    func putRepairsTruncated() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let data = Data(repeating: 7, count: 5000)
        let digest = ContentDigest.of(data)
        let path = store.url(for: digest).path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.prefix(1234).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try store.read(digest) }
        #expect(try store.put(data) == digest)
        #expect(try store.read(digest) == data)
        // Same size, wrong bytes: also replaced.
        try overwrite(store.url(for: digest).path, with: Data(repeating: 8, count: 5000))
        #expect(try store.put(data) == digest)
        #expect(try store.read(digest) == data)
    }

    @Test("leftovers of an interrupted put are removed at open and never visible")
    func crashLeftovers() throws {
        let temp = try TemporaryDirectory()
        let data = Data(repeating: 42, count: 8192)
        let digest = ContentDigest.of(data)
        let objectPath: String
        let tmpLeftover: String
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            objectPath = store.url(for: digest).path
            tmpLeftover = temp.state.path + "/tmp/\(digest.hex).crashed.tmp"
            try store.close()
        }
        // A crash while writing the temp file, and a half-written object from a crash of a writer that
        // did not use rename (or a torn copy): both must vanish at open.
        try data.prefix(100).write(to: URL(fileURLWithPath: tmpLeftover))
        try FileManager.default.createDirectory(atPath: (objectPath as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.prefix(4000).write(to: URL(fileURLWithPath: objectPath))
        try FileManager.default.createDirectory(atPath: temp.state.path + "/tmp/junkdir", withIntermediateDirectories: true)

        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(try fileStatus(tmpLeftover) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.state.path + "/tmp").isEmpty)
        #expect(try fileStatus(objectPath) == nil, "an unreferenced half-written object is collected at open")
        #expect(throws: StoreError.self) { try store.read(digest) }
        #expect(try store.tasks().isEmpty)
        #expect(try store.integrityCheck().isHealthy)
    }

    @Test("a symbolic link planted where an object belongs is never followed")
    func plantedObjectLink() throws {
        let temp = try TemporaryDirectory()
        let store = try AdapterStore.open(stateDirectory: temp.state)
        let installed = try Sample.install(store, "alpha", seed: 1)
        let path = store.url(for: installed.adapter.weightsDigest).path
        let secret = temp.url.appendingPathComponent("secret")
        try Data("secret".utf8).write(to: secret)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: secret.path)
        let error = try #require(throws: StoreError.self) { try store.read(installed.adapter.weightsDigest) }
        #expect(error.code == .symlinkRefused)
        #expect(try !store.integrityCheck().isHealthy)

        // An unreferenced link somewhere under objects/ is removed; its target is untouched.
        let stray = temp.state.path + "/objects/ab/" + String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: temp.state.path + "/objects/ab", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: stray, withDestinationPath: secret.path)
        // A linked fan-out directory is refused too, even when the file behind it has the right bytes.
        let other = try store.put(Data("innocent".utf8))
        let fanOut = temp.state.path + "/objects/" + other.prefix
        let decoy = temp.url.appendingPathComponent("decoy")
        try FileManager.default.moveItem(atPath: fanOut, toPath: decoy.path)
        try FileManager.default.createSymbolicLink(atPath: fanOut, withDestinationPath: decoy.path)
        let linked = try #require(throws: StoreError.self) { try store.read(other) }
        #expect(linked.code == .symlinkRefused)

        let report = try store.collectGarbage()
        #expect(try fileStatus(fanOut) == nil, "the linked fan-out directory is removed, not followed")
        #expect(try fileStatus(decoy.path + "/" + other.hex) != nil)
        #expect(report.removedStrayEntries >= 1)
        #expect(try fileStatus(stray) == nil)
        #expect(try Data(contentsOf: secret) == Data("secret".utf8))
    }
}
