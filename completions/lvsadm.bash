# bash completion for lvsadm(8). Option list checked against `lvsadm -h`
# by tests/ops_docs.rs. Installed as /usr/share/bash-completion/completions/lvsadm.
_lvsadm()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        -s|--scheduler)
            COMPREPLY=($(compgen -W "rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh" -- "$cur")); return ;;
        --start-daemon|--stop-daemon)
            COMPREPLY=($(compgen -W "master backup" -- "$cur")); return ;;
        --tun-type)
            COMPREPLY=($(compgen -W "ipip gue gre" -- "$cur")); return ;;
        --pe)
            COMPREPLY=($(compgen -W "sip" -- "$cur")); return ;;
        -b|--sched-flags)
            COMPREPLY=($(compgen -W "sh-fallback sh-port mh-fallback mh-port flag-1 flag-2 flag-3" -- "$cur")); return ;;
        --mcast-interface)
            COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur")); return ;;
        -t|--tcp-service|-u|--udp-service|--sctp-service|-f|--fwmark-service|-r|--real-server|\
        -w|--weight|-x|--u-threshold|-y|--l-threshold|-M|--netmask|-p|--persistent|\
        --tun-port|--syncid|--sync-maxlen|--mcast-group|--mcast-port|--mcast-ttl)
            return ;;
    esac
    COMPREPLY=($(compgen -W "-A --add-service -E --edit-service -D --delete-service -C --clear
        -R --restore -S --save -a --add-server -e --edit-server -d --delete-server -L -l --list
        -Z --zero --set --start-daemon --stop-daemon -h --help
        -t --tcp-service -u --udp-service --sctp-service -f --fwmark-service
        -6 --ipv6 -s --scheduler --pe -p --persistent -M --netmask -r --real-server
        -g --gatewaying -i --ipip -m --masquerading --tun-type --tun-port --tun-nocsum --tun-csum
        --tun-remcsum -w --weight -x --u-threshold -y --l-threshold -c --connection --timeout
        --daemon --stats --rate --exact --thresholds --persistent-conn --tun-info --nosort --sort
        -o --ops -n --numeric -b --sched-flags --syncid --sync-maxlen --mcast-interface
        --mcast-group --mcast-port --mcast-ttl" -- "$cur"))
}
complete -F _lvsadm lvsadm
