import AdapterProtocol
import ArgumentParser

/// A command that asks the daemon one method and prints the result: as JSON with --json, else as the
/// text `render` makes of it. A conforming command names its `Method`, renders the result and, if the
/// method takes params, says what it sends; `run()` is given.
protocol DaemonQueryCommand: AsyncParsableCommand {
    associatedtype Method: RPCMethod
    var client: ClientOptions { get }
    /// What the command sends the daemon.
    var params: Method.Params { get }
    /// The result as text for a terminal (escaped when printed).
    static func render(_ result: Method.Result) -> String
}

extension DaemonQueryCommand {
    func run() async throws {
        try await client.query(Method.self, params, render: Self.render)
    }
}

extension DaemonQueryCommand where Method.Params == NoParams {
    var params: NoParams { NoParams() }
}
