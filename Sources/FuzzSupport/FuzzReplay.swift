import Foundation

/// Runs a fuzz target's body on files named on the command line, for the normal (non-libFuzzer) build
/// of a fuzz executable: `FuzzSafeTensors crash-1234 seeds/…` replays those inputs once each.
///
/// A directory argument replays every regular file in it. Returns the process exit status: 0 when
/// every input ran to completion (a crash ends the process before that), 2 when an argument was
/// unreadable.
public enum FuzzReplay {
    public static func run(arguments: [String], body: (Data) -> Void) -> Int32 {
        guard !arguments.isEmpty else {
            let tool = (CommandLine.arguments.first ?? "fuzz-target").split(separator: "/").last.map(String.init) ?? ""
            print("usage: \(tool) FILE|DIR… (replays inputs; build with tools/fuzz/run.sh to fuzz)")
            return 2
        }
        var replayed = 0
        for argument in arguments {
            for url in inputFiles(at: argument) {
                guard let data = try? Data(contentsOf: url) else {
                    print("cannot read \(url.path)")
                    return 2
                }
                body(data)
                replayed += 1
            }
        }
        print("replayed \(replayed) input(s) without a crash")
        return 0
    }

    private static func inputFiles(at path: String) -> [URL] {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return [url]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { url.appendingPathComponent($0) }.filter {
            (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true
        }
    }
}

/// Splits a fuzz input in two at the first occurrence of `separator` (the second part is empty when
/// the separator is absent), so that one byte string can feed an API taking two inputs.
public func splitFuzzInput(_ data: Data, separator: Data) -> (Data, Data) {
    guard let range = data.range(of: separator) else { return (data, Data()) }
    return (Data(data[data.startIndex..<range.lowerBound]), Data(data[range.upperBound...]))
}

/// What every fuzz target does with one input, whichever way it arrives: libFuzzer's raw bytes
/// (`LLVMFuzzerTestOneInput`) or the files the normal build's replay `main` reads.
public enum FuzzEntry {
    /// libFuzzer's call: runs `body` on the `count` bytes at `start`; always 0 (a failure crashes).
    public static func input(_ start: UnsafeRawPointer, _ count: Int, _ body: (Data) -> Void) -> CInt {
        body(Data(bytes: start, count: count))
        return 0
    }

    /// The normal build's `main`: replays the files and directories named on the command line and
    /// exits with `FuzzReplay.run`'s status.
    public static func replayArguments(_ body: (Data) -> Void) -> Never {
        exit(FuzzReplay.run(arguments: Array(CommandLine.arguments.dropFirst()), body: body))
    }
}
