import ArgumentParser

/// adapterctl's global options (`ClientOptions`: `--socket PATH`, `--socket=PATH`, `--json`) may come
/// before the subcommand, as with `systemctl -H`, `docker -H` or `git -C`: `adapterctl --socket P status`
/// is parsed as `adapterctl status --socket P`.
///
/// argument-parser reads a command's options only after its name, so the leading global options are
/// moved to just after the subcommand path (`detector train` as a whole), before the arguments given
/// there. Hence, when an option is given in both places, the one after the subcommand wins (it comes
/// later, and for a single-valued option the last value is kept). A subcommand that does not take the
/// option (the offline `inspect` has no `--socket`) refuses it as it would refuse it after its name.
///
/// Nothing is moved when the leading options are not followed by a subcommand name: `--` (everything
/// after it is an argument), `--help`, `--version`, an unknown option or word, or nothing at all; the
/// parser then reports the arguments as written. A leading `--socket` takes the next argument as its
/// value whatever it looks like (`--socket status status` connects to the socket named "status").
public enum GlobalOptionPlacement {
    /// Global options that take a value (`--socket PATH` or `--socket=PATH`).
    static let valuedOptions: Set<String> = ["--socket"]
    /// Global flags.
    static let flags: Set<String> = ["--json"]

    /// `arguments` with their leading global options moved after the subcommand path of `root`.
    public static func normalised(_ arguments: [String], root: ParsableCommand.Type) -> [String] {
        var leading: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if flags.contains(argument) {
                leading.append(argument)
                index += 1
            } else if valuedOptions.contains(argument) {
                // A missing value: leave the line alone, so that the parser says so.
                guard index + 1 < arguments.endIndex else { return arguments }
                leading.append(contentsOf: arguments[index...(index + 1)])
                index += 2
            } else if let equals = argument.firstIndex(of: "="), valuedOptions.contains(String(argument[..<equals])) {
                leading.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.endIndex,
              var command = subcommand(of: root, named: arguments[index]) else { return arguments }
        var pathEnd = index + 1
        while pathEnd < arguments.endIndex, let next = subcommand(of: command, named: arguments[pathEnd]) {
            command = next
            pathEnd += 1
        }
        return Array(arguments[index..<pathEnd]) + leading + Array(arguments[pathEnd...])
    }

    /// The subcommand of `command` called `name` (or with that alias), if any.
    static func subcommand(of command: ParsableCommand.Type, named name: String) -> ParsableCommand.Type? {
        command.configuration.subcommands.first { $0._commandName == name || $0.configuration.aliases.contains(name) }
    }

    /// The global options for `adapterctl --help`: names, value and what each does (lines short
    /// enough not to be wrapped, so that the layout holds in the help and the manual page).
    static var helpText: String {
        """
        Global options, before or after the subcommand (given in both places, the \
        one after the subcommand wins):
          --socket <path>, --socket=<path>
                \(ClientOptions.socketHelp)
                \(ClientOptions.socketDefault)
          --json
                \(ClientOptions.jsonHelp)
                \(ClientOptions.jsonSchema)
        """
    }
}
