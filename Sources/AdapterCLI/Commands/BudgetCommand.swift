import AdapterProtocol
import ArgumentParser

/// `adapterctl budget [SIZE]`: show or set the byte budget of the served set.
struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Show the byte budget, or set it (e.g. 64MiB, 1.5GB, unlimited).")

    @Argument(help: "New budget; omit to show the current one.")
    var size: String?

    @OptionGroup var client: ClientOptions

    func run() async throws {
        var bytes: Int64?? = nil
        if let size {
            do {
                bytes = .some(try ByteSize.parseLimit(size, what: "budget"))
            } catch {
                throw ValidationError(error.message)
            }
        }
        let budget: BudgetStatus = try await client.withClient { connection in
            if let bytes {
                return try await connection.call(Methods.BudgetSet.self, BudgetSetParams(bytes: bytes))
            }
            return try await connection.call(Methods.Status.self, NoParams()).budget
        }
        if client.json { return Output.printJSON(budget) }
        print("budget: \(Output.budgetLine(budget))")
    }
}
