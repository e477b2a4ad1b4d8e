import ArgumentParser

/// `adapterctl completion bash|zsh|fish`: prints the shell completion script argument-parser generates
/// for adapterctl (the same as `--generate-completion-script`; committed under etc/completions/).
struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
            tools/setup.sh and tools/install.sh install the scripts (tools/install-cli-extras.sh). By hand: \
            adapterctl completion bash > ~/.local/share/bash-completion/completions/adapterctl; \
            adapterctl completion zsh > DIR/_adapterctl for a DIR in $fpath; \
            adapterctl completion fish > ~/.config/fish/completions/adapterctl.fish.
            """)

    /// The shells argument-parser writes completion scripts for.
    enum Shell: String, CaseIterable, ExpressibleByArgument {
        case bash, zsh, fish

        var completionShell: CompletionShell {
            switch self {
            case .bash: .bash
            case .zsh: .zsh
            case .fish: .fish
            }
        }

        /// The name the shell looks the script up by.
        var fileName: String {
            switch self {
            case .bash: "adapterctl.bash"
            case .zsh: "_adapterctl"
            case .fish: "adapterctl.fish"
            }
        }
    }

    @Argument(help: "bash, zsh or fish.")
    var shell: Shell

    func run() {
        print(Self.script(for: shell), terminator: "")
    }

    /// The script as printed: argument-parser's, ending in one line break.
    static func script(for shell: Shell) -> String {
        var script = AdapterCtl.completionScript(for: shell.completionShell)
        while script.hasSuffix("\n") { script.removeLast() }
        return script + "\n"
    }
}
