# bash completion for virtlabctl                           -*- shell-script -*-
# Installed as share/bash-completion/completions/virtlabctl (bash-completion
# loads it on the first TAB after "virtlabctl").  Commands and each command's
# options are read from the program's own --help, so they never drift from
# it; option values (VMMs, formats, kinds, files, job ids) are known here.
# shellcheck shell=bash
# COMPREPLY=($(compgen ...)) is the bash-completion idiom:
# shellcheck disable=SC2207

# The commands: the "Commands:" block of `virtlabctl --help`.
_virtlabctl_commands()
{
    "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p}'
}

# The options of a command, one per line: "--name" for a flag, "--name ARG"
# for an option taking a value (help lines put one space between the two).
_virtlabctl_options()
{
    "$1" "$2" --help 2>/dev/null | sed -n 's/^  \(-[a-zA-Z], \)\{0,1\}\(--[a-z0-9-]*\)\( [^ ]\)\{0,1\}.*/\2\3/p'
}

# Stored job ids, newest first (nothing when the daemon is not reachable).
_virtlabctl_jobs()
{
    timeout 2 "$1" results --format csv --limit 30 2>/dev/null | sed -n 's/^\([0-9][0-9]*\),.*/\1/p'
}

# COMPREPLY from a comma-separated list being typed: the items after the
# last comma, less the ones already in it.
_virtlabctl_list()
{
    local cur=$1 items=$2 head="" item
    [[ $cur == *,* ]] && head=${cur%,*},
    local done=",${head}"
    local -a left=()
    for item in $items; do
        [[ $done == *",$item,"* ]] || left+=("$head$item")
    done
    COMPREPLY=($(compgen -W "${left[*]}" -- "$cur"))
    [[ ${#COMPREPLY[@]} -eq 1 ]] && compopt -o nospace
}

_virtlabctl()
{
    local cur prev words cword
    _init_completion || return

    local prog=${words[0]} vmms="qemu qemu-microvm stratovirt"
    local kinds="boot memory mtree translate edu kvm-sample bench-cpu bench-memory bench-fileio"
    # The command word: the first word that is neither an option nor the
    # value of a global option taking one.
    local i verb="" verb_at=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --format | --bus) ((i++)) ;;
            -*) ;;
            *) verb=${words[i]} verb_at=$i; break ;;
        esac
    done

    case $prev in
        --vmm)
            if [[ $verb == compare ]]; then
                _virtlabctl_list "$cur" "$vmms"
            else
                COMPREPLY=($(compgen -W "$vmms" -- "$cur"))
            fi
            return ;;
        --experiments) _virtlabctl_list "$cur" "$kinds"; return ;;
        --format)
            case $verb in
                report) COMPREPLY=($(compgen -W "md html" -- "$cur")) ;;
                mtree) COMPREPLY=($(compgen -W "text json dot svg" -- "$cur")) ;;
                translate) COMPREPLY=($(compgen -W "text json" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "table csv md json openmetrics" -- "$cur")) ;;
            esac
            return ;;
        --accel) COMPREPLY=($(compgen -W "auto kvm tcg" -- "$cur")); return ;;
        --bus) COMPREPLY=($(compgen -W "system session" -- "$cur")); return ;;
        --kind) COMPREPLY=($(compgen -W "$kinds" -- "$cur")); return ;;
        --state) COMPREPLY=($(compgen -W "done failed canceled" -- "$cur")); return ;;
        --mode) COMPREPLY=($(compgen -W "real protected paged long" -- "$cur")); return ;;
        --device) COMPREPLY=($(compgen -W "edu" -- "$cur")); return ;;
        --modes) _virtlabctl_list "$cur" "seq rnd rndrd rndwr seqrd seqwr"; return ;;
        --image)
            COMPREPLY=($(compgen -W "default noop systemd" -- "$cur"))
            _filedir -d
            return ;;
        --out | --report) _filedir -d; return ;;
        --baseline | --save-baseline | --junit | --openmetrics | --disk | --kernel | --initrd) _filedir; return ;;
        --job) COMPREPLY=($(compgen -W "$(_virtlabctl_jobs "$prog")" -- "$cur")); return ;;
    esac

    # Any other option that takes a value (--runs N, --param K=V): no guess.
    local opts="" line
    if [[ -n $verb ]]; then
        while IFS= read -r line; do
            if [[ $line == "$prev "* ]]; then
                return
            fi
            opts+=" ${line%% *}"
        done < <(_virtlabctl_options "$prog" "$verb")
    fi

    if [[ $cur == -* ]]; then
        [[ -z $verb ]] && opts="--format --json --bus --quiet --help"
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi

    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W "$(_virtlabctl_commands "$prog")" -- "$cur"))
        return
    fi
    case $verb in
        bench)
            # One sub-command: cpu, memory or fileio.
            local sub=0
            for ((i = verb_at + 1; i < cword; i++)); do
                [[ ${words[i]} == -* ]] || sub=1
            done
            ((sub)) || COMPREPLY=($(compgen -W "cpu memory fileio" -- "$cur"))
            ;;
        results | compare | report | cancel)
            COMPREPLY=($(compgen -W "$(_virtlabctl_jobs "$prog")" -- "$cur"))
            ;;
    esac
} &&
    complete -F _virtlabctl virtlabctl

# ex: filetype=sh
