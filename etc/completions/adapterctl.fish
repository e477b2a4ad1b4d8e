function __adapterctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __adapterctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __adapterctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __adapterctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __adapterctl_parse_tokens -S
    set -l unparsed_tokens (__adapterctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'adapterctl'
        __adapterctl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'status'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'install'
            __adapterctl_parse_subcommand 1 'task=' 'examples=' 'labels=' 'socket=' 'json' 'version' 'h/help'
        case 'list'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'show'
            __adapterctl_parse_subcommand 1 'socket=' 'json' 'version' 'h/help'
        case 'remove'
            __adapterctl_parse_subcommand 1 'socket=' 'json' 'version' 'h/help'
        case 'route'
            __adapterctl_parse_subcommand 0 'task=' 'text=' 'top=' 'socket=' 'json' 'version' 'h/help'
        case 'recluster'
            __adapterctl_parse_subcommand 0 'budget=' 'dry-run' 'socket=' 'json' 'version' 'h/help'
        case 'export'
            __adapterctl_parse_subcommand -r 1 'task=' 'format=' 'dtype=' 'arch=' 'base=' 'socket=' 'json' 'version' 'h/help'
        case 'quarantine'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'budget'
            __adapterctl_parse_subcommand -r 1 'socket=' 'json' 'version' 'h/help'
        case 'config'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'verify'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'metrics'
            __adapterctl_parse_subcommand 0 'socket=' 'json' 'version' 'h/help'
        case 'inspect'
            __adapterctl_parse_subcommand 1 'json' 'version' 'h/help'
        case 'scan'
            __adapterctl_parse_subcommand -r 1 'json' 'jobs=' 'model=' 'base-model=+' 'examples=' 'manifest=' 'behaviour-threshold=' 'runtime-precision=' 'version' 'h/help'
        case 'detector'
            __adapterctl_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'train'
                __adapterctl_parse_subcommand 0 'manifest=' 'features=' 'base-model=+' 'l2=' 'target-fpr=' 'no-benign-bank' 'jobs=' 'out=' 'no-cross-validation' 'version' 'h/help'
            case 'eval'
                __adapterctl_parse_subcommand 0 'manifest=' 'features=' 'base-model=+' 'l2=' 'target-fpr=' 'no-benign-bank' 'jobs=' 'model=' 'verbose' 'dump-features=' 'version' 'h/help'
            case 'behaviour'
                __adapterctl_parse_subcommand 0 'manifest=' 'base-model=+' 'jobs=' 'threshold=' 'runtime-precision=' 'version' 'h/help'
            case 'emit-default'
                __adapterctl_parse_subcommand -r 1 'out=' 'version' 'h/help'
            end
        case 'completion'
            __adapterctl_parse_subcommand 1 'version' 'h/help'
        case 'help'
            __adapterctl_parse_subcommand -r 1 'version'
        end
    end
end

function __adapterctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __adapterctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __adapterctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __adapterctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__adapterctl_tokens -p)
    if test -z "$(__adapterctl_tokens -t)"
        set -l index (count (__adapterctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'adapterctl' -f
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'status' -d 'Show the daemon\'s state: tasks, generation, budget, detector.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'install' -d 'Screen and install a PEFT LoRA adapter for a task.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'list' -d 'List installed tasks.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'show' -d 'Show one task in detail.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'remove' -d 'Remove a task; it is no longer served.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'route' -d 'Show the adapter that serves a task, or the tasks a text resembles.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'recluster' -d 'Re-plan the served set under the budget: K clusters, merged adapters, retained quality.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'export' -d 'Write a served adapter (cluster) as a PEFT directory or a GGUF LoRA file.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'quarantine' -d 'List adapters refused by screening.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'budget' -d 'Show the byte budget, or set it (e.g. 64MiB, 1.5GB, unlimited).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'config' -d 'Show the daemon\'s effective settings.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'verify' -d 'Hash every stored adapter and examples file; report (and set aside) the damaged ones.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'metrics' -d 'Show the daemon\'s metrics (Prometheus text format; --json for structured families).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'inspect' -d 'Show a PEFT LoRA adapter\'s base model, rank, modules and spectral signature.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'scan' -d 'Screen PEFT LoRA adapters (directories or trees of them) for backdoors, without the daemon.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'detector' -d 'Train and evaluate the weight-space poison detector.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'completion' -d 'Print the shell completion script for bash, zsh or fish.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl status" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl status" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl status" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl install" -eq 1' -fa '(__adapterctl_complete_directories)'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" task' -l 'task' -d 'Task name (letters, digits, \'.\', \'_\', \'-\'; up to 64).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" examples' -l 'examples' -d 'JSON Lines file with the task\'s few examples.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'jsonl\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" labels' -l 'labels' -d 'Names of integer labels in the examples, by index (label 0 is the first name).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl install" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl list" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl list" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl list" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl show" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl show" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl show" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl show" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl remove" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl remove" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl remove" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl remove" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" task' -l 'task' -d 'Task name.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" text' -l 'text' -d 'Route by this text: the tasks whose examples it most resembles.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" top' -l 'top' -d 'With --text: how many tasks to show (1–50, default 3).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl route" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" budget' -l 'budget' -d 'Plan for this budget instead of the one in force (e.g. 2MiB).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" dry-run' -l 'dry-run' -d 'Only show the plan; change nothing.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl recluster" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" task' -l 'task' -d 'Export the cluster serving this task.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" format' -l 'format' -d 'peft (a directory, the default) or gguf (one llama.cpp LoRA adapter file).' -rfka 'peft gguf'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" dtype' -l 'dtype' -d 'gguf: tensor type f32, f16 or bf16 (default: the served adapter\'s own, F16 for merged adapters).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" arch' -l 'arch' -d 'gguf: base architecture (llama, mistral, qwen2, gemma, gemma2, gemma3, phi3); overrides the adapter\'s base model name.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" base' -l 'base' -d 'gguf: the base model\'s directory (or its config.json), for its architecture and head counts.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl export" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl quarantine" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl quarantine" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl quarantine" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl quarantine" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl budget" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl budget" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl budget" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl budget" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl config" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl config" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl config" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl config" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl verify" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl verify" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl verify" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl verify" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl metrics" socket' -l 'socket' -d 'Path of adapterd\'s Unix socket.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl metrics" json' -l 'json' -d 'Print the daemon\'s result as JSON (errors too, on stdout).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl metrics" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl metrics" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl inspect" -eq 1' -fa '(__adapterctl_complete_directories)'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl inspect" json' -l 'json' -d 'Print one JSON object instead of tables.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl inspect" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl inspect" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" json' -l 'json' -d 'One JSON object per line per adapter.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" jobs' -l 'jobs' -d 'Parallel jobs.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" model' -l 'model' -d 'Detector model JSON (default: built-in).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan"' -l 'base-model' -d 'Base model directory (its token embeddings enable the built-in alignment model; with examples, behavioural screening); repeat for several.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" examples' -l 'examples' -d 'Labelled examples (JSONL) of the task, for every adapter listed.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" manifest' -l 'manifest' -d 'JSON lines {"adapter": DIR, "examples": FILE}: adapters to scan, each with its examples (relative paths: from the manifest\'s directory).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" behaviour-threshold' -l 'behaviour-threshold' -d 'Behavioural score at or above which an adapter is poisoned.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" runtime-precision' -l 'runtime-precision' -d 'What the base model\'s linear maps multiply in: auto (bfloat16 where the CPU has AVX512_BF16, else float32), float32 or bfloat16.' -rfka 'auto float32 bfloat16'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl scan" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl detector" -eq 1' -fa 'train' -d 'Train a detector on a corpus manifest and write the model JSON.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl detector" -eq 1' -fa 'eval' -d 'Cross-validate the baseline and the chosen feature set side by side on a corpus.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl detector" -eq 1' -fa 'behaviour' -d 'Measure behavioural screening (candidate triggers run through the base model) on a corpus.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl detector" -eq 1' -fa 'emit-default' -d 'Write detector models as adapterd\'s built-in defaults (the model files it ships).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" manifest' -l 'manifest' -d 'Corpus manifest (data/corpus/manifest.json).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" features' -l 'features' -d 'Feature set: baseline, extended, extended-tokens, alignment, extended-alignment (extended becomes extended-tokens when --base-model is given).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train"' -l 'base-model' -d 'Base model directory (config.json, model.safetensors, vocab); repeat for several base models. Enables token-response features.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" l2' -l 'l2' -d 'L2 penalty on standardised features.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" target-fpr' -l 'target-fpr' -d 'Target false-positive rate for the threshold (chosen on training folds).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" no-benign-bank' -l 'no-benign-bank' -d 'Do not z-score features against the benign bank (extended feature sets).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" jobs' -l 'jobs' -d 'Parallel feature extraction jobs.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" out' -l 'out' -d 'Where to write the model JSON.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" no-cross-validation' -l 'no-cross-validation' -d 'Skip the cross-validation recorded in the model\'s provenance.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector train" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" manifest' -l 'manifest' -d 'Corpus manifest (data/corpus/manifest.json).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" features' -l 'features' -d 'Feature set: baseline, extended, extended-tokens, alignment, extended-alignment (extended becomes extended-tokens when --base-model is given).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval"' -l 'base-model' -d 'Base model directory (config.json, model.safetensors, vocab); repeat for several base models. Enables token-response features.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" l2' -l 'l2' -d 'L2 penalty on standardised features.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" target-fpr' -l 'target-fpr' -d 'Target false-positive rate for the threshold (chosen on training folds).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" no-benign-bank' -l 'no-benign-bank' -d 'Do not z-score features against the benign bank (extended feature sets).'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" jobs' -l 'jobs' -d 'Parallel feature extraction jobs.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" model' -l 'model' -d 'Also apply this model file (or \'default\') to the corpus.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" verbose' -l 'verbose' -d 'Also print the leave-one-task-out decision of every adapter.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" dump-features' -l 'dump-features' -d 'Write every adapter\'s features (all evaluated sets) as JSON lines to this file.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector eval" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" manifest' -l 'manifest' -d 'Corpus manifest (data/corpus/manifest.json).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour"' -l 'base-model' -d 'Base model directory (weights, tokenizer); repeat for several. Bases the manifest names with a path are added.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" jobs' -l 'jobs' -d 'Parallel jobs.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" threshold' -l 'threshold' -d 'Threshold to report besides leave-one-task-out (default: the built-in one).' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" runtime-precision' -l 'runtime-precision' -d 'What the base model\'s linear maps multiply in: auto (bfloat16 where the CPU has AVX512_BF16, else float32), float32 or bfloat16.' -rfka 'auto float32 bfloat16'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector behaviour" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector emit-default" out' -l 'out' -d 'Directory to write the model files into.' -rfka ''
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector emit-default" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl detector emit-default" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_positional "adapterctl completion" -eq 1' -fka 'bash zsh fish'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl completion" version' -l 'version' -d 'Show the version.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl completion" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'adapterctl' -n '__adapterctl_should_offer_completions_for_flags_or_options "adapterctl help" version' -l 'version' -d 'Show the version.'
