@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Testing

/// `adapterctl budget SIZE` and `recluster --budget SIZE`: a negative or huge size gets the size
/// parser's message (it used to be "Unknown option '-1'" and "Missing value for '--budget'").
@Suite("Budget arguments")
struct BudgetArgumentTests {
    static func message(_ arguments: [String]) -> String? {
        do {
            _ = try AdapterCtl.parseAsRoot(arguments)
            return nil
        } catch {
            return AdapterCtl.message(for: error)
        }
    }

    @Test func aNegativeBudgetIsNegative() {
        #expect(Self.message(["budget", "-1"]) == "budget '-1' is negative; a size is 0 or more bytes, e.g. 0, 64MiB or 1.5GB")
        #expect(Self.message(["budget", "-1", "--socket", "/nonexistent"])?.contains("is negative") == true)
        #expect(Self.message(["recluster", "--budget", "-1"]) == "--budget '-1' is negative; a size is 0 or more bytes, e.g. 0, 64MiB or 1.5GB")
        #expect(Self.message(["recluster", "--dry-run", "--budget", "-2MiB"])?.contains("is negative") == true)
    }

    @Test func aHugeBudgetIsTooLarge() {
        #expect(Self.message(["budget", "99999999999TiB"])?.contains("is too large") == true)
        #expect(Self.message(["recluster", "--budget", "99999999999TiB"])?.contains("is too large") == true)
    }

    @Test func otherInputsStillGetTheirErrors() throws {
        #expect(Self.message(["budget", "--jsno"]) == "unknown option '--jsno'")
        #expect(Self.message(["budget", "1MiB", "2MiB"])?.contains("give one budget") == true)
        let show = try #require(try AdapterCtl.parseAsRoot(["budget", "--json"]) as? BudgetCommand)
        #expect(try show.budget() == nil)
        let set = try #require(try AdapterCtl.parseAsRoot(["budget", "64MiB"]) as? BudgetCommand)
        #expect(try set.budget() == .bytes(64 << 20))
        let unlimited = try #require(try AdapterCtl.parseAsRoot(["budget", "unlimited"]) as? BudgetCommand)
        #expect(try unlimited.budget() == .unlimited)
        let recluster = try #require(try AdapterCtl.parseAsRoot(["recluster", "--budget", "2MiB", "--dry-run"]) as? ReclusterCommand)
        #expect(try recluster.newBudget() == .bytes(2 << 20))
        #expect(recluster.dryRun)
    }
}
