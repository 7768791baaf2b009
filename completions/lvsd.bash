# bash completion for lvsd(8). Verbs and options checked against lvsd's
# parser by tests/ops_docs.rs. Installed as /usr/share/bash-completion/completions/lvsd.
_lvsd()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    # BEGIN verbs: generated from lvsd::daemon::verbs::VERBS by tests/ops_docs.rs (LVSD_BLESS=1)
    local verbs="start stop restart try-restart reload force-reload status standby takeover run confirm drain enable weight overrides plan check-config probe explain"
    local file_verbs=" run plan check-config probe "
    # END verbs
    if [[ $file_verbs == *" $prev "* ]]; then
        COMPREPLY=($(compgen -f -- "$cur")); return
    fi
    case $prev in
        --socket|--pid-file|--log-file|--toml)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --metrics)
            COMPREPLY=($(compgen -W "off 127.0.0.1:9612" -- "$cur")); return ;;
        explain)
            COMPREPLY=($(compgen -W "tcp udp sctp" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "-d --debug --socket --pid-file --log-file --toml --metrics --wait --timeout --confirm --clear -h --help -v --version --" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
    COMPREPLY+=($(compgen -f -X '!*.cf' -- "$cur"))
}
complete -F _lvsd lvsd
