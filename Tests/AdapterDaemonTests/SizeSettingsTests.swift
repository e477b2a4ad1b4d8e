@testable import AdapterDaemon
import AdapterProtocol
import Foundation
import Testing

/// Sizes from adapterd's flags and configuration file: a negative budget is a clear error, and no
/// size, however large, makes the limits computed from it overflow (which traps the daemon at start).
@Suite("Size settings")
struct SizeSettingsTests {
    @Test(arguments: ["-1", "-0.5GB", "-64MiB"])
    func aNegativeBudgetFlagIsRefusedAsNegative(budget: String) {
        #expect {
            try DaemonOptions(budget: budget).budgetOverride()
        } throws: { error in
            (error as? ConfigurationError)?.message == "--budget '\(budget)' is negative; a size is 0 or more bytes, e.g. 0, 64MiB or 1.5GB"
        }
    }

    @Test(arguments: ["99999999999TiB", "9000000TiB", "1048577TiB"])
    func aHugeBudgetFlagIsTooLarge(budget: String) {
        #expect {
            try DaemonOptions(budget: budget).budgetOverride()
        } throws: { error in
            (error as? ConfigurationError)?.message.contains("is too large") == true
        }
    }

    /// 8,000,000 TiB used to be accepted, and `maxFrameBytes` (base64 of it plus the examples) then
    /// overflowed Int64.
    @Test(arguments: ["max-adapter-size", "max-examples-size", "max-read-only-request", "budget"])
    func hugeSizesInTheConfigurationFileAreRefused(key: String) {
        #expect {
            try ConfigurationFile.parse("\(key) = 8000000TiB\n")
        } throws: { error in
            (error as? ConfigurationError)?.message.contains("'8000000TiB' is too large") == true
        }
    }

    @Test func theLargestSizesGiveFrameLimitsWithoutOverflow() throws {
        let settings = try ConfigurationFile.parse("max-adapter-size = 1048576TiB\nmax-examples-size = 1048576TiB\nbudget = 1048576TiB\n")
        #expect(settings.maxAdapterBytes == ByteSize.maximum)
        #expect(settings.maxFrameBytes == Int64(Framing.absoluteMaximum))
        #expect(ServerLimits(settings: settings).maxFrameBytes == Framing.absoluteMaximum)
    }
}
