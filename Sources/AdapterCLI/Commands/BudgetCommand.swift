import AdapterCore
import AdapterProtocol
import ArgumentParser

/// `adapterctl budget [SIZE]`: show or set the byte budget of the served set.
struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Show the byte budget, or set it (e.g. 64MiB, 1.5GB, unlimited).",
        usage: "adapterctl budget [<size>] [--socket <path>] [--json]")

    /// The new budget, at most one. Unrecognised inputs are collected too, so that `budget -1` reaches
    /// the size parser (and gets "negative") instead of being refused as an unknown option.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("New budget; omit to show the current one.", valueName: "size"))
    var sizes: [String] = []

    @OptionGroup var client: ClientOptions

    func validate() throws {
        _ = try budget()
    }

    /// The budget to set: nil to show the current one.
    func budget() throws(ValidationError) -> Budget? {
        guard let size = sizes.first else { return nil }
        guard sizes.count == 1 else {
            throw ValidationError("give one budget, not \(sizes.count): \(sizes.joined(separator: " "))")
        }
        if size.hasPrefix("-"), !(size.dropFirst().first.map { $0.isNumber || $0 == "." } ?? false) {
            throw ValidationError("unknown option '\(size)'")
        }
        do {
            return try Budget.parse(size, what: "budget")
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let wanted = try budget()
        let budget: BudgetStatus = try await client.withClient { connection in
            if let wanted {
                return try await connection.call(Methods.BudgetSet.self, BudgetSetParams(budget: wanted))
            }
            return try await connection.call(Methods.Status.self, NoParams()).budget
        }
        if client.json { return Output.printJSON(budget) }
        print("budget: \(Output.budgetLine(budget))")
    }
}
