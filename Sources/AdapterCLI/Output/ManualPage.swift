import Foundation

/// A manual page (troff, man(7) macros) written from a command's own help texts: the JSON that
/// argument-parser prints for `--experimental-dump-help` (its ToolInfoV0 format, read here with the
/// members a page needs). adapterctl's and adapterd's pages under docs/man/ are made this way
/// (`adapterctl manual`), so they say what `--help` says.
///
/// The page has no date, so that it changes only when a help text or the version does.
struct ManualPage {
    /// One command of the dump: its names, texts, arguments and subcommands.
    struct Command: Decodable {
        var superCommands: [String]?
        var shouldDisplay: Bool?
        var commandName: String
        var abstract: String?
        var discussion: String?
        var subcommands: [Command]?
        var arguments: [Argument]?
    }

    /// One argument, option or flag of a command.
    struct Argument: Decodable {
        struct Name: Decodable {
            var kind: String
            var name: String
        }

        var kind: String
        var shouldDisplay: Bool
        var isOptional: Bool
        var isRepeating: Bool
        var names: [Name]?
        var valueName: String?
        var defaultValue: String?
        var allValues: [String]?
        var abstract: String?
        var discussion: String?
    }

    private struct Tool: Decodable {
        var command: Command
    }

    /// What the page is about.
    let command: Command
    /// The version in the page's footer, e.g. "adapterd 0.1.0".
    let source: String
    /// Sections after the commands: title and text (plain text, as in a help text).
    let extraSections: [(title: String, text: String)]
    /// Options whose default depends on the machine (`--jobs`: the number of processors), by long name:
    /// what the page says instead of this machine's value.
    let machineDependentDefaults: [String: String]
    /// Options the command takes before its subcommand as well (adapterctl's `ClientOptions`): shown in
    /// the synopsis and under OPTIONS.
    let globalOptions: [Argument]

    /// Reads `dump` (the output of `--experimental-dump-help`) and, if given, `globalOptionsDump` (that of
    /// the global options' `ParsableArguments`).
    init(dump: String, source: String, extraSections: [(title: String, text: String)] = [],
         machineDependentDefaults: [String: String] = [:], globalOptionsDump: String? = nil) throws {
        command = try JSONDecoder().decode(Tool.self, from: Data(dump.utf8)).command
        self.source = source
        self.extraSections = extraSections
        self.machineDependentDefaults = machineDependentDefaults
        globalOptions = try globalOptionsDump.map {
            (try JSONDecoder().decode(Tool.self, from: Data($0.utf8)).command.arguments ?? [])
                .filter { $0.shouldDisplay && !$0.isHelp && !$0.isVersion }
        } ?? []
    }

    /// The page as troff source.
    func render() -> String {
        let name = command.commandName
        var lines = [
            ".\\\" -*- coding: UTF-8 -*-",
            ".\\\" Generated from the help texts by `adapterctl manual` (tools/generate-cli-docs.sh); do not edit.",
            ".TH \(Self.escape(name.uppercased())) 1 \"\" \"\(Self.escape(source))\" \"User Commands\"",
            ".SH NAME",
            "\(Self.escape(name)) \\- \(Self.escape(Self.sentence(command.abstract ?? "")))",
            ".SH SYNOPSIS",
        ]
        lines += synopsis(command, path: [name], global: globalOptions)
        if let discussion = command.discussion {
            lines.append(".SH DESCRIPTION")
            lines += Self.paragraphs(discussion)
        }
        let options = globalOptions + displayed(command.arguments)
        if !options.isEmpty {
            lines.append(".SH OPTIONS")
            lines += options.flatMap(item)
        }
        let subcommands = displayed(command.subcommands)
        if !subcommands.isEmpty {
            lines.append(".SH COMMANDS")
            for subcommand in subcommands { lines += section(subcommand, path: [name]) }
        }
        for extra in extraSections {
            lines.append(".SH \(Self.escape(extra.title.uppercased()))")
            lines += Self.paragraphs(extra.text)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A subcommand's part of COMMANDS (and its own subcommands'): usage, texts, arguments.
    private func section(_ command: Command, path: [String]) -> [String] {
        let path = path + [command.commandName]
        var lines = [".SS \"\(Self.escape(path.joined(separator: " ")))\""]
        lines += synopsis(command, path: path)
        if let abstract = command.abstract { lines += [".PP"] + Self.paragraphs(Self.sentence(abstract)) }
        if let discussion = command.discussion { lines += [".PP"] + Self.paragraphs(discussion) }
        let arguments = displayed(command.arguments).filter { !$0.isHelp && !$0.isVersion }
        if !arguments.isEmpty { lines += [".PP"] + arguments.flatMap(item) }
        for subcommand in displayed(command.subcommands) { lines += section(subcommand, path: path) }
        return lines
    }

    /// The usage line: the command path in bold, then each argument (optional ones in brackets).
    private func synopsis(_ command: Command, path: [String], global: [Argument] = []) -> [String] {
        var words = path.map { "\\fB\(Self.escape($0))\\fR" }
        for argument in global + displayed(command.arguments) where !argument.isHelp && !argument.isVersion {
            var word = label(argument, allNames: false)
            if argument.isRepeating { word += "\\&..." }
            words.append(argument.isOptional ? "[\(word)]" : word)
        }
        if !displayed(command.subcommands).isEmpty { words.append("\\fIsubcommand\\fR") }
        return [".PP", words.joined(separator: " ")]
    }

    /// An argument as a tagged paragraph: its names and value, then what it does, its default and values.
    private func item(_ argument: Argument) -> [String] {
        var text = Self.sentence(argument.abstract ?? "")
        if let discussion = argument.discussion { text += (text.isEmpty ? "" : " ") + discussion }
        if let values = argument.allValues, !values.isEmpty {
            text += " (values: \(values.joined(separator: ", ")))"
        }
        if argument.kind == "option", let value = argument.defaultValue {
            let long = argument.names?.first { $0.kind == "long" }?.name
            text += " (default: \(long.flatMap { machineDependentDefaults[$0] } ?? value))"
        }
        return [".TP", label(argument, allNames: true)] + Self.paragraphs(text.trimmingCharacters(in: .whitespaces))
    }

    /// "\fB\-\-socket\fR \fIpath\fR", "\fB\-h\fR, \fB\-\-help\fR", "\fIpath\fR" (every hyphen of a name
    /// written `\-`, so that a name copied from the page is the option).
    private func label(_ argument: Argument, allNames: Bool) -> String {
        let value = "\\fI\(Self.escape(argument.valueName ?? "value"))\\fR"
        guard argument.kind != "positional", let names = argument.names, !names.isEmpty else { return value }
        let shown = allNames ? names : [names.first { $0.kind == "long" } ?? names[0]]
        let flags = shown.map { name -> String in
            let dashes = name.kind == "long" ? "\\-\\-" : "\\-"
            return "\\fB\(dashes)\(Self.escape(name.name).replacingOccurrences(of: "-", with: "\\-"))\\fR"
        }.joined(separator: ", ")
        return argument.kind == "option" ? "\(flags) \(value)" : flags
    }

    private func displayed(_ arguments: [Argument]?) -> [Argument] {
        (arguments ?? []).filter(\.shouldDisplay)
    }

    /// The subcommands a reader can call (not hidden ones, nor argument-parser's `help`, which
    /// repeats this page).
    private func displayed(_ commands: [Command]?) -> [Command] {
        (commands ?? []).filter { $0.shouldDisplay != false && $0.commandName != "help" }
    }

    /// `text` with a full stop at its end.
    static func sentence(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let last = trimmed.last, !".!?:)".contains(last) else { return trimmed }
        return trimmed + "."
    }

    /// A help text as troff: blank lines start paragraphs; lines that start with spaces (lists, the
    /// exit statuses) are kept as they are, unfilled; other lines are filled.
    static func paragraphs(_ text: String) -> [String] {
        var lines: [String] = []
        var unfilled = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indented = line.first?.isWhitespace == true && !line.allSatisfy(\.isWhitespace)
            if indented != unfilled {
                lines.append(indented ? ".nf" : ".fi")
                unfilled = indented
            }
            lines.append(line.allSatisfy(\.isWhitespace) ? ".PP" : escape(String(line)))
        }
        if unfilled { lines.append(".fi") }
        return lines
    }

    /// `text` safe as troff input: backslashes written `\e`, a leading `.` or `'` (a request) and the
    /// hyphen of an option name kept literal.
    static func escape(_ text: String) -> String {
        var escaped = text.replacingOccurrences(of: "\\", with: "\\e")
        escaped = escaped.replacingOccurrences(of: "--", with: "\\-\\-")
        escaped = escaped.replacingOccurrences(of: " -", with: " \\-")
        if escaped.hasPrefix(".") || escaped.hasPrefix("'") { escaped = "\\&" + escaped }
        return escaped
    }
}

extension ManualPage.Argument {
    var isHelp: Bool { names?.contains { $0.name == "help" && $0.kind == "long" } == true }
    var isVersion: Bool { names?.contains { $0.name == "version" && $0.kind == "long" } == true }
}
