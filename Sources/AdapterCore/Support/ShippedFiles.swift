import Foundation

/// Finds the data files adapterd ships beside its binaries (the default detector models), looking in
/// order in:
/// 1. the SwiftPM resource bundle next to the executable (`adapterd_AdapterCore.resources`: a build
///    tree, `swift build` / `swift test`);
/// 2. `share/adapterd` beside the executable's directory (an installed prefix: `/usr/bin/adapterd`
///    reads `/usr/share/adapterd`, `/usr/local/bin/…` reads `/usr/local/share/adapterd`);
/// 3. `/usr/share/adapterd`.
///
/// SwiftPM's generated `Bundle.module` is deliberately not used: it stops the process (fatalError)
/// when the bundle is not next to the executable, as for a daemon installed to /usr/bin. Here a
/// missing file is an error that says where it was looked for.
public enum ShippedFiles {
    /// The resource bundle SwiftPM builds for AdapterCore (package `adapterd`) on Linux.
    public static let bundleName = "adapterd_AdapterCore.resources"
    /// Where an installation keeps them, below its prefix (see tools/install.sh).
    public static let installedSubdirectory = "share/adapterd"
    public static let systemDirectory = URL(fileURLWithPath: "/usr/share/adapterd", isDirectory: true)

    /// The running executable, symbolic links resolved (nil if it cannot be told).
    public static var currentExecutable: URL? {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        #endif
        return Bundle.main.executableURL?.resolvingSymlinksInPath()
    }

    /// The directories searched, in order, for an executable at `executable`.
    public static func directories(executable: URL?) -> [URL] {
        var result: [URL] = []
        if let directory = executable?.deletingLastPathComponent() {
            result.append(directory.appendingPathComponent(bundleName, isDirectory: true))
            result.append(directory.deletingLastPathComponent()
                .appendingPathComponent(installedSubdirectory, isDirectory: true).standardizedFileURL)
        }
        if !result.contains(systemDirectory) { result.append(systemDirectory) }
        return result
    }

    /// The first of `directories` that holds a regular file `name`.
    public static func locate(_ name: String, in directories: [URL]) -> URL? {
        for directory in directories {
            let file = directory.appendingPathComponent(name, isDirectory: false)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                return file
            }
        }
        return nil
    }
}
