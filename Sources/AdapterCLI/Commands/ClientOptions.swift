import AdapterProtocol
import ArgumentParser
import Foundation

/// Options every daemon command takes: where the socket is and whether to print JSON. They are
/// adapterctl's global options: given before the subcommand, `GlobalOptionPlacement` moves them after it.
public struct ClientOptions: ParsableArguments {
    /// What `--socket` is, in this command's help and in `adapterctl --help`'s global options.
    static let socketHelp = "Path of adapterd's Unix socket."
    static let socketDefault = "Default: $ADAPTERD_SOCKET, else \(AdapterdClient.defaultSocketPath)."
    /// What `--json` does, in this command's help and in `adapterctl --help`'s global options.
    static let jsonHelp = "Print the daemon's result as JSON (errors too, on stdout)."
    static let jsonSchema = "Every document has \"schema\": \(Output.jsonSchemaVersion) (adapterctl --help)."

    @Option(name: .long, help: ArgumentHelp(socketHelp, discussion: socketDefault, valueName: "path"))
    public var socket: String?

    @Flag(name: .long, help: ArgumentHelp(jsonHelp, discussion: jsonSchema))
    public var json = false

    public init() {}

    /// The socket path in force.
    public var socketPath: String {
        if let socket { return socket }
        if let environment = ProcessInfo.processInfo.environment["ADAPTERD_SOCKET"], !environment.isEmpty {
            return environment
        }
        return AdapterdClient.defaultSocketPath
    }

    /// Connects, runs `body`, closes; maps client and daemon errors to `CLIError`s.
    public func withClient<T: Sendable>(_ body: (AdapterdClient) async throws -> T) async throws -> T {
        let client: AdapterdClient
        do {
            client = try await AdapterdClient.connect(socketPath: socketPath)
        } catch let error as AdapterdClientError {
            throw CLIError(.cannotConnect, error.message)
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch let error as RPCError {
            await client.close()
            if json { Output.printJSON(RPCFailure(id: nil, error: error)) }
            throw CLIError(CLIError.status(for: error), Output.describe(error))
        } catch let error as AdapterdClientError {
            await client.close()
            throw CLIError(error.code == .cannotConnect ? .cannotConnect : .daemonError, error.message)
        } catch {
            await client.close()
            throw error
        }
    }

    /// Calls `method` and prints its result: as JSON with --json, else `render(result)` as text.
    public func query<Method: RPCMethod>(
        _ method: Method.Type, _ params: Method.Params, render: (Method.Result) -> String
    ) async throws {
        let result = try await withClient { try await $0.call(method, params) }
        if json { return Output.printJSON(result) }
        Output.printText(render(result))
    }
}
