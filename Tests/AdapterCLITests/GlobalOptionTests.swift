@testable import AdapterCLI
import AdapterProtocol
import ArgumentParser
import Foundation
import Testing

/// Global options before the subcommand (`adapterctl --socket P status`) as well as after it.
@Suite("adapterctl global options")
struct GlobalOptionTests {
    /// Parses `arguments` as `adapterctl` does (global options moved first).
    static func parse(_ arguments: [String]) throws -> ParsableCommand {
        try AdapterCtl.parseAsRoot(GlobalOptionPlacement.normalised(arguments, root: AdapterCtl.self))
    }

    /// Runs adapterctl; returns its exit status and what it reported as an error.
    static func run(_ arguments: [String]) async -> (status: Int32, error: String) {
        var messages: [String] = []
        let status = await AdapterCtl.run(arguments: arguments) { messages.append($0) }
        return (status, messages.joined(separator: "\n"))
    }

    @Test(arguments: [
        ["--socket", "/p/a.sock", "status"],
        ["status", "--socket", "/p/a.sock"],
        ["--socket=/p/a.sock", "status"],
        ["status", "--socket=/p/a.sock"],
    ])
    func theSocketIsTakenBeforeOrAfterTheSubcommand(arguments: [String]) throws {
        let status = try #require(try Self.parse(arguments) as? StatusCommand)
        #expect(status.client.socketPath == "/p/a.sock")
        #expect(!status.client.json)
    }

    @Test func severalCommandsTakeThemInFront() throws {
        let list = try #require(try Self.parse(["--json", "--socket", "/s", "list"]) as? ListCommand)
        #expect(list.client.json && list.client.socketPath == "/s")
        let route = try #require(try Self.parse(["--socket=/s", "--json", "route", "--text", "hello"]) as? RouteCommand)
        #expect(route.client.json && route.client.socketPath == "/s" && route.text == "hello")
        let budget = try #require(try Self.parse(["--socket", "/s", "budget", "16MiB"]) as? BudgetCommand)
        #expect(budget.client.socketPath == "/s" && budget.sizes == ["16MiB"])
        // --json before an offline command that has its own --json.
        let scan = try #require(try Self.parse(["--json", "scan", "dir"]) as? ScanCommand)
        #expect(scan.json && scan.paths == ["dir"])
    }

    @Test func aConnectionFailureNamesTheSocketGivenInFront() async {
        for command in [["status"], ["list"], ["route", "--task", "t"], ["quarantine"], ["budget"]] {
            let (status, error) = await Self.run(["--socket", "/nonexistent/front.sock"] + command)
            #expect(status == ExitStatus.cannotConnect.rawValue, "\(command): \(error)")
            #expect(error.contains("cannot connect to adapterd at /nonexistent/front.sock"), "\(command): \(error)")
        }
        let (status, error) = await Self.run(["--socket=/nonexistent/equals.sock", "status", "--json"])
        #expect(status == ExitStatus.cannotConnect.rawValue)
        #expect(error.contains("/nonexistent/equals.sock"), "\(error)")
    }

    @Test func theOneAfterTheSubcommandWins() throws {
        let status = try #require(try Self.parse(["--socket", "/front", "status", "--socket", "/after"]) as? StatusCommand)
        #expect(status.client.socketPath == "/after")
        let equals = try #require(try Self.parse(["--socket=/front", "status", "--socket=/after"]) as? StatusCommand)
        #expect(equals.client.socketPath == "/after")
        // A flag given in both places is simply on.
        let json = try #require(try Self.parse(["--json", "status", "--json"]) as? StatusCommand)
        #expect(json.client.json)
    }

    @Test func nestedSubcommandsGetTheOptionsAfterTheWholePath() throws {
        #expect(GlobalOptionPlacement.normalised(["--json", "detector", "train", "--manifest", "m"], root: AdapterCtl.self)
                == ["detector", "train", "--json", "--manifest", "m"])
        // detector train does not talk to the daemon: the option is refused there, as after its name.
        #expect(throws: (any Error).self) { try Self.parse(["--json", "detector", "train", "--manifest", "m"]) }
        do {
            _ = try Self.parse(["--socket", "/s", "inspect", "dir"])
            Issue.record("inspect took --socket")
        } catch {
            #expect(AdapterCtl.fullMessage(for: error).contains("--socket"), "\(AdapterCtl.fullMessage(for: error))")
        }
    }

    @Test func optionValuesAndArgumentsThatLookLikeSubcommandsStayWhatTheyAre() throws {
        let named = try #require(try Self.parse(["--socket", "status", "status"]) as? StatusCommand)
        #expect(named.client.socketPath == "status")
        let list = try #require(try Self.parse(["--socket", "list", "status"]) as? StatusCommand)
        #expect(list.client.socketPath == "list")
        // `show list`: "list" is show's task argument, not a subcommand of show.
        let show = try #require(try Self.parse(["--json", "show", "list"]) as? ShowCommand)
        #expect(show.client.json && show.task == "list")
        #expect(GlobalOptionPlacement.normalised(["--json", "show", "list"], root: AdapterCtl.self) == ["show", "--json", "list"])
    }

    @Test func aDoubleDashEndsTheOptions() throws {
        // After the subcommand: the options go before the `--`, so a path that looks like an option stays an argument.
        #expect(GlobalOptionPlacement.normalised(["--json", "inspect", "--", "--odd-dir"], root: AdapterCtl.self)
                == ["inspect", "--json", "--", "--odd-dir"])
        let inspect = try #require(try Self.parse(["--json", "inspect", "--", "--odd-dir"]) as? InspectCommand)
        #expect(inspect.json && inspect.path == "--odd-dir")
        // Before the subcommand: nothing after `--` is an option or a subcommand; the line is left as written.
        #expect(GlobalOptionPlacement.normalised(["--json", "--", "status"], root: AdapterCtl.self) == ["--json", "--", "status"])
    }

    @Test func linesWithoutASubcommandAreLeftToTheParser() async {
        for arguments in [["--socket"], ["--socket", "/s"], ["--json", "no-such-command"], ["--json", "--version"]] {
            #expect(GlobalOptionPlacement.normalised(arguments, root: AdapterCtl.self) == arguments)
        }
        #expect(await Self.run(["--socket"]).status == ExitStatus.usage.rawValue)
        #expect(await Self.run(["--json", "no-such-command"]).status == ExitStatus.usage.rawValue)
        #expect(await Self.run(["status", "--socket"]).status == ExitStatus.usage.rawValue)
    }

    @Test func helpAndVersionStillWorkAfterGlobalOptions() async throws {
        #expect(await Self.run(["--json", "--help"]).status == ExitStatus.ok.rawValue)
        #expect(await Self.run(["--socket", "/s", "--version"]).status == ExitStatus.ok.rawValue)
        #expect(await Self.run(["--socket", "/s", "status", "--help"]).status == ExitStatus.ok.rawValue)
        // argument-parser answers --help with its help command, whose run throws the help text.
        var help = try Self.parse(["--socket", "/s", "status", "--help"])
        do {
            try help.run()
            Issue.record("no help")
        } catch {
            #expect(AdapterCtl.fullMessage(for: error).contains("USAGE: adapterctl status"))
        }
    }

    @Test func rootHelpShowsTheGlobalOptionsAndTheJSONPromise() {
        let help = AdapterCtl.helpMessage()
        #expect(help.contains("adapterctl [--socket <path>] [--json] <subcommand>"))
        #expect(help.contains("Global options, before or after the subcommand"))
        #expect(help.contains("--socket <path>, --socket=<path>"))
        #expect(help.contains("\"schema\": 1"))
        #expect(help.contains("completion"))
        #expect(!help.contains("manual"))   // hidden: a tool for docs/man/
    }

    /// The options moved are exactly ClientOptions': a new one added there is global too, or this fails.
    @Test func theGlobalOptionsAreClientOptions() throws {
        let page = try ManualPage(dump: ClientOptions._dumpHelp(), source: "")
        let arguments = (page.command.arguments ?? []).filter { !$0.isHelp }
        let options = arguments.filter { $0.kind == "option" }.flatMap { $0.names ?? [] }.map { "--" + $0.name }
        let flags = arguments.filter { $0.kind == "flag" }.flatMap { $0.names ?? [] }.map { "--" + $0.name }
        #expect(Set(options) == GlobalOptionPlacement.valuedOptions)
        #expect(Set(flags) == GlobalOptionPlacement.flags)
    }
}
