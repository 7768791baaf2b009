# bash completion for lvsd(8). Verbs and options checked against lvsd's
# parser by tests/ops_docs.rs. Installed as /usr/share/bash-completion/completions/lvsd.
_lvsd()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --socket|--pid-file|--log-file|--toml)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --metrics)
            COMPREPLY=($(compgen -W "off 127.0.0.1:9612" -- "$cur")); return ;;
        run|check-config|plan)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --timeout|--confirm)
            COMPREPLY=(); return ;;
        explain)
            COMPREPLY=($(compgen -W "tcp udp sctp" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "-d --debug --socket --pid-file --log-file --toml --metrics --wait --timeout --confirm --clear -h --help -v --version --" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -W "start stop restart try-restart reload force-reload status standby takeover run check-config explain drain enable weight overrides plan confirm" -- "$cur"))
    COMPREPLY+=($(compgen -f -X '!*.cf' -- "$cur"))
}
complete -F _lvsd lvsd
