//! Tests of `lvsd.toml` parsing and validation.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::*;
use std::time::Duration;

fn p(text: &str) -> Result<LvsdToml, Error> {
    parse(text, Path::new("lvsd.toml"))
}

fn err(text: &str) -> String {
    match p(text) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

const MIN: &str = r#"
[node]
name = "a"
[ha]
key_file = "/k"
[[ha.link]]
peers = ["10.0.0.2"]
"#;

#[test]
fn example_file_parses() {
    let text = include_str!("../../lvsd.toml.example");
    let c = p(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.node, "director1");
    let ha = c.ha.unwrap_or_else(|| panic!("no ha"));
    assert_eq!(ha.priority, 150);
    assert_eq!(ha.timings.keepalive, Duration::from_millis(200));
    assert_eq!(ha.timings.deadtime, Duration::from_millis(1000));
    assert_eq!(ha.links.len(), 2);
    assert_eq!(ha.links[0].peers.len(), 2);
    assert_eq!(ha.links[0].peers[0].port(), 694);
    assert_eq!(ha.links[1].bind, "10.255.0.1".parse().ok());
    assert_eq!(ha.vips.len(), 2);
    assert_eq!(ha.vips[0].prefix, 24);
    assert_eq!(ha.vips[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(ha.vips[1].prefix, 64);
    assert_eq!(ha.ping.nodes.len(), 1);
    assert_eq!(ha.sync_daemon.as_ref().map(|s| s.syncid), Some(1));
    assert_eq!(ha.hooks.len(), 1);
    assert_eq!(ha.hooks[0].when, HookWhen::Any);
    assert!(ha.auto_failback);
}

#[test]
fn defaults_follow_heartbeat_ratios() {
    let ha = p(MIN)
        .unwrap_or_else(|e| panic!("{e}"))
        .ha
        .unwrap_or_else(|| panic!());
    assert_eq!(ha.timings.keepalive, Duration::from_millis(1000));
    assert_eq!(ha.timings.deadtime, Duration::from_millis(5000));
    assert_eq!(ha.timings.warntime, Duration::from_millis(2500));
    assert_eq!(ha.timings.initdead, Duration::from_millis(10000));
    assert_eq!(ha.priority, 100);
    assert!(!ha.auto_failback);
    assert_eq!(ha.announce, Announce::default());
    assert_eq!(ha.links[0].port, 694);
    assert_eq!(ha.links[0].name, "link0");
}

#[test]
fn no_ha_section_is_a_single_director() {
    let c = p("[node]\nname = \"x\"\n").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.ha, None);
}

#[test]
fn errors_name_file_line_column_and_key() {
    let e = err(&MIN.replace("[ha]\n", "[ha]\ndeadtime_ms = 2000\nkeepalive_ms = 1000\n"));
    assert_eq!(
        e,
        "lvsd.toml:5:15: ha.deadtime_ms: must exceed twice keepalive_ms (1000)"
    );
    let e = err(&MIN.replace("10.0.0.2", "10.0.0.300"));
    assert!(
        e.starts_with("lvsd.toml:7:10: ha.link[0].peers: invalid address"),
        "{e}"
    );
    let e = err(&format!(
        "{MIN}[[ha.vip]]\naddress = \"10.0.0.9/33\"\ninterface = \"eth0\"\n"
    ));
    assert!(
        e.starts_with("lvsd.toml:9:11: ha.vip[0].address: invalid prefix length"),
        "{e}"
    );
    let e = err(&MIN.replace("key_file", "keyfile"));
    assert!(
        e.starts_with("lvsd.toml:5:1: ") && e.contains("unknown field `keyfile`"),
        "{e}"
    );
    let e = err("[node\n");
    assert!(e.starts_with("lvsd.toml:1:"), "{e}");
}

#[test]
fn bad_values_are_refused() {
    let cases = [
        (
            MIN.replace("[[ha.link]]\npeers = [\"10.0.0.2\"]\n", ""),
            "ha.link: at least one",
        ),
        (
            MIN.replace("peers = [\"10.0.0.2\"]", "interface = \"eth0\""),
            "needs peers, multicast or broadcast",
        ),
        (
            MIN.replace("peers = [\"10.0.0.2\"]", "peers = [\"10.0.0.2\", \"::1\"]"),
            "mixes IPv4 and IPv6",
        ),
        (
            MIN.replace(
                "peers = [\"10.0.0.2\"]",
                "multicast = \"10.0.0.1\"\ninterface = \"e\"",
            ),
            "not a multicast group",
        ),
        (
            MIN.replace("peers = [\"10.0.0.2\"]", "multicast = \"239.1.1.1\""),
            "multicast needs interface",
        ),
        (
            MIN.replace("[ha]\n", "[ha]\ninitdead_ms = 100\n"),
            "ha.initdead_ms",
        ),
        (
            MIN.replace("[ha]\n", "[ha]\nwarntime_ms = 9000\n"),
            "ha.warntime_ms",
        ),
        (
            MIN.replace("[ha]\n", "[ha]\nkeepalive_ms = 0\n"),
            "ha.keepalive_ms",
        ),
        (
            MIN.replace("name = \"a\"", &format!("name = \"{}\"", "n".repeat(65))),
            "node.name",
        ),
        (
            format!(
                "{MIN}[[ha.vip]]\naddress = \"10.0.0.9\"\ninterface = \"eth0\"\nlabel = \"lo:x\"\n"
            ),
            "ha.vip[0].label",
        ),
        (
            format!("{MIN}[[ha.hook]]\nwhen = \"active\"\ncommand = []\n"),
            "needs a program",
        ),
        (
            format!("{MIN}[[ha.hook]]\nwhen = \"sometimes\"\ncommand = [\"x\"]\n"),
            "unknown variant",
        ),
        (
            format!("{MIN}[ha.sync_daemon]\ninterface = \"e\"\nsyncid = 300\n"),
            "syncid",
        ),
        (
            format!("{MIN}[ha.ping]\nnodes = [\"x\"]\n"),
            "ha.ping.nodes",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{want:?} not in {e:?}");
    }
}

#[test]
fn rt_priority_default_off_and_range() {
    let ha = |t: &str| {
        p(t).unwrap_or_else(|e| panic!("{e}"))
            .ha
            .unwrap_or_else(|| panic!())
    };
    assert_eq!(ha(MIN).rt_priority, Some(20));
    assert_eq!(
        ha(&MIN.replace("[ha]\n", "[ha]\nrt_priority = 0\n")).rt_priority,
        None
    );
    assert_eq!(
        ha(&MIN.replace("[ha]\n", "[ha]\nrt_priority = 50\n")).rt_priority,
        Some(50)
    );
    assert!(err(&MIN.replace("[ha]\n", "[ha]\nrt_priority = 100\n")).contains("ha.rt_priority"));
}

#[test]
fn metrics_listen_address_or_off() {
    let p = Path::new("lvsd.toml");
    let t = parse("[metrics]\nlisten = \"127.0.0.1:9700\"\n", p).unwrap();
    assert_eq!(
        t.metrics_listen,
        Some(Some("127.0.0.1:9700".parse().unwrap()))
    );
    let t = parse("[metrics]\nlisten = \"off\"\n", p).unwrap();
    assert_eq!(t.metrics_listen, Some(None));
    assert_eq!(parse("", p).unwrap().metrics_listen, None);
    let e = parse("[metrics]\nlisten = \"nope\"\n", p)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lvsd.toml:2:10: metrics.listen: invalid address"),
        "{e}"
    );
}

/// Issue 13 defect 12: values the kernel or the HA runner cannot use are
/// refused with `file:line:col: key`, not accepted silently.
#[test]
fn ports_interfaces_announce_and_durations_are_bounded() {
    let vip = |ifname: &str| {
        format!("{MIN}[[ha.vip]]\naddress = \"10.0.0.9\"\ninterface = \"{ifname}\"\n")
    };
    let cases = [
        (
            MIN.replace("[ha]\n", "[ha]\nport = 0\n"),
            "lvsd.toml:5:8: ha.port: must be 1 to 65535",
        ),
        (
            MIN.replace("peers = [\"10.0.0.2\"]", "peers = [\"10.0.0.2\"]\nport = 0"),
            "ha.link[0].port",
        ),
        (
            MIN.replace("10.0.0.2", "10.0.0.2:0"),
            "ha.link[0].peers: port must be 1 to 65535",
        ),
        (
            format!("{MIN}[ha.sync_daemon]\ninterface = \"eth1\"\nport = 0\n"),
            "ha.sync_daemon.port",
        ),
        (
            "[metrics]\nlisten = \"127.0.0.1:0\"\n".to_string(),
            "lvsd.toml:2:10: metrics.listen: port must be",
        ),
        (
            vip("abcdefghijklmnop"),
            "ha.vip[0].interface: invalid interface name",
        ),
        (vip("eth\\u0000"), "ha.vip[0].interface"),
        (vip("a/b"), "ha.vip[0].interface"),
        (vip(".."), "ha.vip[0].interface"),
        (vip(""), "ha.vip[0].interface"),
        (vip("eth 0"), "ha.vip[0].interface"),
        (
            MIN.replace(
                "peers = [\"10.0.0.2\"]",
                "peers = [\"10.0.0.2\"]\ninterface = \"x/y\"",
            ),
            "ha.link[0].interface",
        ),
        (
            format!(
                "{MIN}[ha.sync_daemon]\ninterface = \"{}\"\n",
                "e".repeat(16)
            ),
            "ha.sync_daemon.interface",
        ),
        (
            format!("{MIN}[ha.announce]\ncount = 4294967295\n"),
            "ha.announce.count: must be 0 to 100",
        ),
        (
            format!("{MIN}[ha.announce]\ninterval_ms = 0\n"),
            "ha.announce.interval_ms: must be 1 to",
        ),
        (
            format!("{MIN}[ha.announce]\ninterval_ms = 86400000\n"),
            "ha.announce.interval_ms",
        ),
        // Would overflow deadtime = 5 x keepalive.
        (
            MIN.replace("[ha]\n", "[ha]\nkeepalive_ms = 9223372036854775807\n"),
            "ha.keepalive_ms: must be 1 to 3600000",
        ),
        (
            MIN.replace("[ha]\n", "[ha]\nfailback_delay_ms = 9223372036854775807\n"),
            "ha.failback_delay_ms",
        ),
        (
            format!("{MIN}[ha.ping]\nnodes = [\"10.0.0.1\"]\ninterval_ms = 0\n"),
            "ha.ping.interval_ms",
        ),
        (
            format!("{MIN}[[ha.hook]]\nwhen = \"active\"\ncommand = [\"x\"]\ntimeout_ms = 0\n"),
            "ha.hook.timeout_ms",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{want:?} not in {e:?}\n{text}");
    }
    // Still accepted: aliases, VLANs, labels, the kernel's default sync port.
    for ok in ["eth0", "bond0.100", "br-lan_1", "e:1"] {
        p(&vip(ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let c = p(&format!(
        "{MIN}[ha.announce]\ncount = 100\ninterval_ms = 1\n[ha.sync_daemon]\ninterface = \"eth1\"\n"
    ))
    .unwrap();
    let ha = c.ha.unwrap();
    assert_eq!(ha.announce.count, 100);
    assert_eq!(ha.sync_daemon.map(|s| s.mcast_port), Some(0));
}

/// `--toml` naming a device, a FIFO or a huge file: refused at once with
/// the path, never read forever or blocked on.
#[test]
fn only_bounded_regular_files_are_read() {
    let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(
        e.contains("/dev/zero") && e.contains("not a regular file"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let e = load(&fifo).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let big = dir.path().join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_FILE_BYTES + 1).unwrap();
    let e = load(&big).unwrap_err().to_string();
    assert!(e.contains("larger than"), "{e}");
    // /dev/null stays "no settings" (execute= instances use it).
    assert_eq!(load(Path::new("/dev/null")).unwrap().ha, None);
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

#[test]
fn daemon_resync_ms_default_off_and_range() {
    assert_eq!(p("").unwrap().resync, None);
    assert_eq!(
        p("[daemon]\nresync_ms = 2000\n").unwrap().resync,
        Some(Duration::from_millis(2000))
    );
    assert_eq!(
        p("[daemon]\nresync_ms = 0\n").unwrap().resync,
        Some(Duration::ZERO)
    );
    let e = err("[daemon]\nresync_ms = 5\n");
    assert!(e.contains(":2:") && e.contains("daemon.resync_ms"), "{e}");
    let e = err("[daemon]\nresync_ms = 99999999999\n");
    assert!(e.contains("daemon.resync_ms"), "{e}");
    assert!(err("[daemon]\nresync = 5\n").contains("resync"));
}

#[test]
fn daemon_state_dir_absolute_only() {
    assert_eq!(p("").unwrap().state_dir, None);
    assert_eq!(
        p("[daemon]\nstate_dir = \"/tmp/x\"\n").unwrap().state_dir,
        Some(std::path::PathBuf::from("/tmp/x"))
    );
    let e = err("[daemon]\nresync_ms = 100\nstate_dir = \"var/lib\"\n");
    assert!(e.contains(":3:") && e.contains("daemon.state_dir"), "{e}");
}

const ANYCAST: &str = r#"
[anycast]
table = 100
protocol = 100
drain = 5
bird_socket = "/run/bird/bird.ctl"
sloppy = true

[[anycast.vip]]
address = "10.90.0.100"
quorum = 2

[[anycast.vip]]
address = "2001:db8::100"
"#;

#[test]
fn anycast_section_parses_with_defaults() {
    let c = p(ANYCAST).unwrap_or_else(|e| panic!("{e}"));
    let a = c.anycast.unwrap_or_else(|| panic!("no anycast"));
    assert_eq!(a.table, 100);
    assert_eq!(a.protocol, 100);
    assert_eq!(a.drain, Duration::from_secs(5));
    assert_eq!(a.bird_socket, Some(PathBuf::from("/run/bird/bird.ctl")));
    assert!(a.sloppy);
    assert_eq!(a.vips.len(), 2);
    assert_eq!(a.vips[0].quorum, 2);
    assert_eq!(a.vips[1].quorum, 1, "quorum defaults to 1");
    assert!(a.vips[1].address.is_ipv6());
    let d = p("[anycast]\n[[anycast.vip]]\naddress = \"10.0.0.1\"\n").unwrap();
    let a = d.anycast.unwrap();
    assert_eq!(
        (a.table, a.protocol, a.drain),
        (100, 100, Duration::from_secs(5))
    );
    assert!(a.sloppy && a.bird_socket.is_none());
    assert!(p("").unwrap().anycast.is_none());
}

#[test]
fn anycast_errors_name_file_line_and_key() {
    let with = |k: &str, v: &str| {
        ANYCAST.replace(&format!("{k} = {}", default_of(k)), &format!("{k} = {v}"))
    };
    fn default_of(k: &str) -> &'static str {
        match k {
            "table" => "100",
            "protocol" => "100",
            "drain" => "5",
            _ => "2",
        }
    }
    for bad in ["0", "253", "254", "255", "-1", "4294967296"] {
        let e = err(&with("table", bad));
        assert!(e.starts_with("lvsd.toml:3:9: anycast.table: "), "{e}");
    }
    assert!(p(&with("table", "4294967295")).is_ok());
    for bad in ["0", "4", "256", "-3"] {
        let e = err(&with("protocol", bad));
        assert!(e.starts_with("lvsd.toml:4:12: anycast.protocol: "), "{e}");
    }
    assert!(p(&with("protocol", "5")).is_ok());
    for bad in ["-1", "601"] {
        let e = err(&with("drain", bad));
        assert!(e.starts_with("lvsd.toml:5:9: anycast.drain: "), "{e}");
    }
    assert!(p(&with("drain", "0")).is_ok());
    let e = err(&ANYCAST.replace("quorum = 2", "quorum = 0"));
    assert!(
        e.starts_with("lvsd.toml:11:10: anycast.vip[0].quorum: "),
        "{e}"
    );
    let e = err(&ANYCAST.replace("10.90.0.100", "10.90.0.300"));
    assert!(
        e.starts_with("lvsd.toml:10:11: anycast.vip[0].address: "),
        "{e}"
    );
    let e = err(&ANYCAST.replace("2001:db8::100", "10.90.0.100"));
    assert!(
        e.contains("anycast.vip[1].address: 10.90.0.100 is listed twice"),
        "{e}"
    );
    let e = err("[anycast]\ntable = 7\n");
    assert!(e.contains("anycast.vip: at least one"), "{e}");
    let e = err(&ANYCAST.replace("sloppy = true", "slopy = true"));
    assert!(e.starts_with("lvsd.toml:7:1:"), "{e}");
    let both =
        format!("{MIN}[[ha.vip]]\naddress = \"10.90.0.100/24\"\ninterface = \"eth0\"\n{ANYCAST}");
    let e = err(&both);
    assert!(
        e.contains("anycast.vip[0].address: 10.90.0.100 is also an [[ha.vip]]"),
        "{e}"
    );
    let long = format!("\"/{}\"", "x".repeat(200));
    let e = err(&ANYCAST.replace("\"/run/bird/bird.ctl\"", &long));
    assert!(e.contains("anycast.bird_socket"), "{e}");
}

#[test]
fn event_hooks_parse_and_validate_with_line_numbers() {
    use crate::model::EventKind;
    let c = p("[[hook]]\non = [\"real_down\", \"real_up\"]\ncommand = [\"/usr/local/bin/n\", \"a b\"]\ntimeout_ms = 500\n\n[[hook]]\non = [\"reload_rejected\"]\ncommand = [\"/bin/true\"]\n").unwrap();
    assert_eq!(c.hooks.len(), 2);
    assert_eq!(c.hooks[0].on, [EventKind::RealDown, EventKind::RealUp]);
    assert_eq!(c.hooks[0].argv, ["/usr/local/bin/n", "a b"]);
    assert_eq!(c.hooks[0].timeout, Duration::from_millis(500));
    assert_eq!(c.hooks[1].timeout, Duration::from_millis(10_000));
    assert!(p("").unwrap().hooks.is_empty());
    // An unknown name: its line, the key and the known names.
    let e = err("[[hook]]\non = [\"real_up\",\n  \"real_dwn\"]\ncommand = [\"/bin/true\"]\n");
    assert!(
        e.contains(":3:")
            && e.contains("hook[0].on")
            && e.contains("real_dwn")
            && e.contains("quorum_lost"),
        "{e}"
    );
    let e = err("[[hook]]\non = [\"real_up\", \"real_up\"]\ncommand = [\"/bin/true\"]\n");
    assert!(e.contains(":2:") && e.contains("twice"), "{e}");
    let e = err("[[hook]]\non = []\ncommand = [\"/bin/true\"]\n");
    assert!(e.contains(":2:") && e.contains("no event"), "{e}");
    let e = err("[[hook]]\non = [\"real_up\"]\ncommand = []\n");
    assert!(e.contains(":3:") && e.contains("hook[0].command"), "{e}");
    // No PATH search: a relative program is refused.
    let e = err("[[hook]]\non = [\"real_up\"]\ncommand = [\"notify\"]\n");
    assert!(e.contains("absolute path"), "{e}");
    let e = err("[[hook]]\non = [\"real_up\"]\ncommand = [\"/bin/x\"]\ntimeout_ms = 0\n");
    assert!(e.contains(":4:") && e.contains("hook[0].timeout_ms"), "{e}");
    let e = err("[[hook]]\non = [\"real_up\"]\ncommand = [\"/bin/x\"]\nwhen = \"any\"\n");
    assert!(e.contains("when"), "{e}");
    // A hostile name is not echoed raw.
    let e = err("[[hook]]\non = [\"a\\u001b[31m\"]\ncommand = [\"/bin/x\"]\n");
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn socket_access_keys() {
    let d = p("").unwrap().access;
    assert_eq!(d.mode, 0o600);
    assert_eq!((d.group, d.write_group), (None, None));
    let a = p(
        "[daemon]\nsocket_mode = \"0660\"\nsocket_group = \"lvsadm\"\nwrite_group = \"lvsops\"\n",
    )
    .unwrap()
    .access;
    assert_eq!(a.mode, 0o660);
    assert_eq!(a.group.as_deref(), Some("lvsadm"));
    assert_eq!(a.write_group.as_deref(), Some("lvsops"));
    for bad in ["\"0669\"", "\"1777\"", "\"0060\"", "\"\"", "\"rw\""] {
        let e = err(&format!("[daemon]\nsocket_mode = {bad}\n"));
        assert!(
            e.contains(":2:") && e.contains("daemon.socket_mode"),
            "{bad}: {e}"
        );
    }
    // Not a string (an integer would be read as decimal): the line says so.
    let e = err("[daemon]\nsocket_mode = 660\n");
    assert!(e.contains(":2:") && e.contains("string"), "{e}");
    let e = err("[daemon]\nsocket_group = \"a b\"\n");
    assert!(
        e.contains(":2:") && e.contains("daemon.socket_group"),
        "{e}"
    );
    let e = err("[daemon]\nwrite_group = \"-x\"\n");
    assert!(e.contains("daemon.write_group"), "{e}");
}

#[test]
fn virtual_sections_carry_the_quorum_policy() {
    let c = p(r#"
[virtual."tcp:192.0.2.10:80"]
quorum = 3
hysteresis = 1
quorum_up = ["/usr/local/bin/up", "a b"]
quorum_down = ["/usr/local/bin/down"]

[virtual."udp:[2001:db8::1]:53"]
quorum = 2

[virtual."fwm:7"]
"#)
    .unwrap();
    assert_eq!(c.virtuals.len(), 3);
    let v = c
        .virtuals
        .iter()
        .find(|v| v.id.to_string() == "tcp:192.0.2.10:80")
        .unwrap();
    let q = v.quorum.clone().unwrap();
    assert_eq!((q.quorum, q.hysteresis), (3, 1));
    assert_eq!(q.up.unwrap(), vec!["/usr/local/bin/up", "a b"]);
    assert_eq!(v.line, 2);
    assert!(c
        .virtuals
        .iter()
        .any(|v| v.id.to_string() == "udp:[2001:db8::1]:53"));
    let f = c
        .virtuals
        .iter()
        .find(|v| v.id.to_string() == "fwm:7")
        .unwrap();
    assert_eq!(f.quorum, None);
}

#[test]
fn virtual_sections_refuse_bad_keys_and_values_with_line() {
    let e = err("[virtual.\"tcp:192.0.2.10\"]\nquorum = 1\n");
    assert!(
        e.starts_with("lvsd.toml:1:") && e.contains("not a virtual"),
        "{e}"
    );
    let e = err("\n[virtual.\"tcp:192.0.2.10:80\"]\nquorum = 0\n");
    assert!(e.starts_with("lvsd.toml:3:") && e.contains("quorum"), "{e}");
    let e = err("[virtual.\"tcp:192.0.2.10:80\"]\nquorum = 2\nhysteresis = 3\n");
    assert!(
        e.starts_with("lvsd.toml:3:") && e.contains("hysteresis"),
        "{e}"
    );
    let e = err("[virtual.\"tcp:192.0.2.10:80\"]\nquorum_up = [\"up.sh\"]\n");
    assert!(
        e.starts_with("lvsd.toml:2:") && e.contains("absolute path"),
        "{e}"
    );
    let e = err("[virtual.\"tcp:192.0.2.10:80\"]\nquorom = 2\n");
    assert!(e.contains("quorom"), "{e}");
    let e = err("[virtual.\"fwm:0\"]\n");
    assert!(e.contains("not a virtual"), "{e}");
}

const LNK: &str = "[[ha.link]]\npeers = [\"10.0.0.2\"]\n";
const TRK: &str = "[node]\nname = \"a\"\n[ha]\nkey_file = \"/k\"\n";

#[test]
fn ha_tracking_keys_parse_and_validate() {
    let c = p(&format!(
        "{TRK}track_interface = [\"eth0\"]\ntrack_file = [\"/run/lvsd/fault\"]\n\
         [[ha.link]]\npeers = [\"10.0.0.2\"]\n[[ha.track_script]]\ncommand = [\"/bin/true\"]\ninterval_ms = 500\nfall = 2\nrise = 3\n"
    ))
    .unwrap();
    let t = c.ha.unwrap().track;
    assert_eq!(t.interfaces, vec!["eth0"]);
    assert_eq!(t.files[0], PathBuf::from("/run/lvsd/fault"));
    let s = &t.scripts[0];
    assert_eq!((s.fall, s.rise), (2, 3));
    assert_eq!(s.timeout, Duration::from_millis(500));
    let e = err(&format!("{TRK}track_interface = [\"bad name\"]\n{LNK}"));
    assert!(
        e.starts_with("lvsd.toml:5:") && e.contains("interface"),
        "{e}"
    );
    let e = err(&format!("{TRK}track_file = [\"rel\"]\n{LNK}"));
    assert!(e.contains("ha.track_file") && e.contains("absolute"), "{e}");
    let e = err(&format!(
        "{MIN}[[ha.track_script]]\ncommand = [\"/bin/true\"]\ninterval_ms = 100\ntimeout_ms = 200\n"
    ));
    assert!(e.contains("timeout_ms"), "{e}");
    let e = err(&format!(
        "{MIN}[[ha.track_script]]\ncommand = [\"/bin/true\"]\nrise = 0\n"
    ));
    assert!(e.contains("rise"), "{e}");
}
