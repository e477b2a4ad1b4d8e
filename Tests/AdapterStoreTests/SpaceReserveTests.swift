import Foundation
import Testing
@testable import AdapterStore

@Suite("Space reserve: room to undo a change on a full disk")
struct SpaceReserveTests {
    @Test("open creates the reserve; release frees it once; ensure puts it back; a planted symlink is left alone")
    func reserveLifecycle() throws {
        let temp = try TemporaryDirectory()
        let path = temp.state.path + "/reserve"
        do {
            let store = try AdapterStore.open(stateDirectory: temp.state)
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
            #expect(size == AdapterStore.spaceReserveBytes)
            #expect(store.releaseSpaceReserve())
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(!store.releaseSpaceReserve())
            store.ensureSpaceReserve()
            #expect((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) == AdapterStore.spaceReserveBytes)
            try store.close()
        }
        // A symlink planted as the reserve is neither followed nor deleted.
        try FileManager.default.removeItem(atPath: path)
        let target = temp.state.deletingLastPathComponent().path + "/canary"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        let store = try AdapterStore.open(stateDirectory: temp.state)
        #expect(!store.releaseSpaceReserve())
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
        #expect((try FileManager.default.destinationOfSymbolicLink(atPath: path)) == target)
        try store.close()
    }
}
