//! lvsadm command execution over the fake kernel: what reaches the table,
//! stdout, stderr and the exit status; `-R` reads `-S` output back.

mod common;

use common::tbl::load;
use common::{eq_text, fixture};
use lvsd::cli::names::NoResolver;
use lvsd::cli::Session;
use lvsd::kernel::FakeTable;
use lvsd::model::VersionInfo;

const INFO: VersionInfo = VersionInfo {
    version: 0x010201,
    conn_tab_size: 4096,
};

/// Run one lvsadm command line; (status, stdout, stderr).
fn run(fake: &FakeTable, args: &str, stdin: &str) -> (i32, String, String) {
    let res = NoResolver;
    let mut s = Session::new(fake, INFO, &res);
    let argv: Vec<String> = std::iter::once("ipvsadm")
        .chain(args.split_whitespace())
        .map(String::from)
        .collect();
    let code = s.main(&argv, &mut stdin.as_bytes());
    (code, s.stdout, s.stderr)
}

#[test]
fn add_edit_delete_then_save() {
    let fake = FakeTable::new();
    assert_eq!(run(&fake, "-A -t 10.0.0.1:80 -s rr", "").0, 0);
    assert_eq!(
        run(&fake, "-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3", "").0,
        0
    );
    assert_eq!(run(&fake, "-a -t 10.0.0.1:80 -r 192.168.1.1 -g", "").0, 0);
    assert_eq!(run(&fake, "-E -t 10.0.0.1:80 -s wrr -p", "").0, 0);
    assert_eq!(
        run(&fake, "-e -t 10.0.0.1:80 -r 192.168.1.1 -g -w 5", "").0,
        0
    );
    let (code, out, err) = run(&fake, "-Sn", "");
    assert_eq!((code, err.as_str()), (0, ""));
    eq_text(
        "-A -t 10.0.0.1:80 -s wrr -p 360\n\
         -a -t 10.0.0.1:80 -r 192.168.1.1:80 -g -w 5\n\
         -a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3\n",
        &out,
    );
    assert_eq!(run(&fake, "-d -t 10.0.0.1:80 -r 192.168.1.2:8080", "").0, 0);
    let (code, _, err) = run(&fake, "-d -t 10.0.0.1:80 -r 192.168.1.2:8080", "");
    assert_eq!((code, err.as_str()), (255, "No such destination\n"));
    assert_eq!(run(&fake, "-D -t 10.0.0.1:80", "").0, 0);
    assert_eq!(run(&fake, "-Sn", "").1, "");
}

#[test]
fn restore_reads_save_output_in_one_batch() {
    let fake = FakeTable::new();
    let saved = fixture("out/main__S-n.stdout");
    let (code, out, err) = run(&fake, "-R", &saved);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(fake.batches(), 1, "restore should send one batch");
    eq_text(&saved, &run(&fake, "-S -n", "").1);
}

#[test]
fn restore_keeps_going_after_kernel_errors_and_returns_last_result() {
    let fake = FakeTable::new();
    let input = "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80\n";
    let (code, _, err) = run(&fake, "-R", input);
    assert_eq!((code, err.as_str()), (0, "Service already exists\n"));
    let input = "-A -t 10.0.0.3:80\n-A -t 10.0.0.3:80\n";
    let (code, _, err) = run(&fake, "-R", input);
    assert_eq!((code, err.as_str()), (255, "Service already exists\n"));
    assert_eq!(fake.snapshot().entries.len(), 3);
}

#[test]
fn restore_stops_at_a_bad_line_after_applying_earlier_ones() {
    let fake = FakeTable::new();
    let input = "-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80 -x 3\n-A -t 10.0.0.3:80\n";
    let (code, _, err) = run(&fake, "-R", input);
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "Illegal 'u-threshold' option with the 'add-service' command\n"
        )
    );
    assert_eq!(fake.snapshot().entries.len(), 1);
    let (code, _, err) = run(&fake, "-R", "-R\n");
    assert_eq!(code, 255);
    assert_eq!(
        err,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
    );
}

#[test]
fn restore_runs_listings_in_order() {
    let fake = FakeTable::new();
    let (code, out, _) = run(&fake, "-R", "-A -f 7 -s rr\n-L -n -f 7\n");
    assert_eq!(code, 0);
    eq_text(
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nFWM  7 rr\n",
        &out,
    );
}

#[test]
fn no_arguments_lists_everything() {
    let fake = FakeTable::with_table(load(&fixture("state/null-fwd.tbl")).table);
    let (code, out, _) = run(&fake, "", "");
    assert_eq!(code, 0);
    assert!(out.starts_with("IP Virtual Server version 1.2.1 (size=4096)\n"));
}

#[test]
fn help_and_version_use_argv0() {
    let fake = FakeTable::new();
    let (code, out, _) = run(&fake, "-h", "");
    assert_eq!(code, 0);
    eq_text(
        &fixture("out/h.stdout").replace("/usr/sbin/ipvsadm", "ipvsadm"),
        &out,
    );
    let (code, out, _) = run(&fake, "--version", "");
    assert_eq!((code, out), (0, fixture("out/v.stdout")));
}

#[test]
fn popt_errors_after_the_command() {
    let fake = FakeTable::new();
    let (code, _, err) = run(&fake, "-A -t", "");
    assert_eq!((code, err.as_str()), (255, "-t: missing argument\n"));
    let (code, _, err) = run(&fake, "-L --bogus", "");
    assert_eq!((code, err.as_str()), (255, "--bogus: unknown option\n"));
    let (code, _, err) = run(&fake, "-Lnq", "");
    assert_eq!((code, err.as_str()), (255, "-Lnq: unknown option\n"));
}

/// The plain listing's fast path (`Ipvs::listing` on the real kernel):
/// services from netlink, reals from `/proc/net/ip_vs`. Fed the text the
/// kernel wrote for a captured table, it gives ipvsadm's `-Ln` of that
/// table byte for byte, leaving only the firewall mark both families use
/// (which the text cannot tell apart) to a netlink dump.
#[test]
fn listing_from_proc_text_is_ipvsadms_listing() {
    use lvsd::cli::list::{format_list_all, Format};
    use lvsd::kernel::{place_reals, Ipvs};
    use lvsd::model::{ServiceKey, Table, TableEntry};
    use lvsd::wire::ipvs_proc::parse_ip_vs;

    let fake = FakeTable::new();
    let table = include_str!("data/proc/ip_vs.table");
    assert_eq!(run(&fake, "-R", table).0, 0);
    let services = fake.services().unwrap();
    let text = include_str!("data/proc/ip_vs.txt");
    let placed = place_reals(&services, parse_ip_vs(text).unwrap());
    let mut from_netlink = Vec::new();
    let entries = services
        .into_iter()
        .zip(placed)
        .map(|(service, reals)| {
            let reals = reals.unwrap_or_else(|| {
                from_netlink.push(service.key);
                fake.dests(&service.key).unwrap()
            });
            TableEntry { service, reals }
        })
        .collect();
    assert_eq!(from_netlink.len(), 2, "{from_netlink:?}");
    assert!(from_netlink
        .iter()
        .all(|k| matches!(k, ServiceKey::Fwmark { mark: 7, .. })));
    let fmt = Format {
        numeric: true,
        ..Format::default()
    };
    eq_text(
        include_str!("data/proc/ip_vs.ipvsadm-Ln.txt"),
        &format_list_all(&INFO, &Table { entries }, &fmt, &NoResolver),
    );
}

/// A large restore text of many shapes (both families, fwmarks, UDP
/// one-packet, persistence, netmasks, scheduler flags, every forwarding
/// method, thresholds, tunnels), with ipvsadm's tokenizer quirks mixed in:
/// tabs, runs of blanks, CRs, the word `ipvsadm`, blank lines.
fn big_restore() -> Vec<String> {
    let mut x: u32 = 0x1234_5678;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut lines = Vec::new();
    for i in 0..600u32 {
        let r = rnd();
        let (svc, v6) = match r % 5 {
            0 => (format!("-f {}", i + 1), false),
            1 => (format!("-f {} -6", i + 1), true),
            2 => (
                format!("-u 10.{}.{}.{}:53", i % 200, r % 250, i % 250),
                false,
            ),
            3 => (format!("-t [2001:db8::{:x}]:{}", i, r % 65000 + 1), true),
            _ => (
                format!(
                    "-t 10.{}.{}.{}:{}",
                    i % 200,
                    r % 250,
                    i % 250,
                    r % 65000 + 1
                ),
                false,
            ),
        };
        let mut opts = [
            "-s wrr",
            "-s mh -b mh-port,mh-fallback",
            "-s rr",
            "",
            "-s sh -b sh-port",
        ][(rnd() % 5) as usize]
            .to_string();
        if rnd() % 3 == 0 {
            opts.push_str(&format!(" -p {}", rnd() % 3600 + 1));
            if !v6 && rnd() % 2 == 0 {
                opts.push_str(" -M 255.255.255.0");
            }
        }
        if r % 5 == 2 && rnd() % 2 == 0 {
            opts.push_str(" -o");
        }
        let sep = ["\t", "  ", " \t "][(rnd() % 3) as usize];
        let head = if rnd() % 7 == 0 { "ipvsadm " } else { "" };
        lines.push(format!("{head}-A{sep}{svc} {opts}"));
        for j in 0..(rnd() % 12) {
            let real = if v6 && rnd() % 2 == 0 {
                format!("[2001:db8:1::{:x}]:{}", j + 1, rnd() % 65000 + 1)
            } else {
                format!("192.168.{}.{}:{}", i % 250, j + 1, rnd() % 65000 + 1)
            };
            let fwd = match rnd() % 5 {
                0 => "-g".to_string(),
                1 => "-i".to_string(),
                2 => "-i --tun-type gue --tun-port 6080 --tun-csum".to_string(),
                3 => "-i --tun-type gre --tun-nocsum".to_string(),
                _ => "-m".to_string(),
            };
            // NAT and DR need the real's family; tunnels may differ.
            let fwd = if v6 != real.starts_with('[') && !fwd.starts_with("-i") {
                "-i".to_string()
            } else {
                fwd
            };
            let mut l = format!("-a {svc} -r {real} {fwd} -w {}", rnd() % 66000);
            if rnd() % 4 == 0 {
                l.push_str(&format!(" -x {} -y {}", rnd() % 1000, rnd() % 100));
            }
            if rnd() % 9 == 0 {
                l.push('\r');
            }
            lines.push(l);
        }
        if rnd() % 11 == 0 {
            lines.push(String::new());
        }
    }
    lines
}

#[test]
fn a_big_restore_builds_the_table_the_same_lines_build_one_by_one() {
    // `-R` (borrowed tokens, one batch) against each line run as its own
    // command (owned argv, one op at a time): same table, same messages.
    let lines = big_restore();
    let text = lines.join("\n") + "\n";
    let batch = FakeTable::new();
    let (code, out, err) = run(&batch, "-R", &text);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let single = FakeTable::new();
    let mut errs = String::new();
    for l in &lines {
        // `-R` drops the word `ipvsadm` anywhere on a line.
        let l: Vec<&str> = l.split_whitespace().filter(|t| *t != "ipvsadm").collect();
        if l.is_empty() {
            continue;
        }
        let (_, _, e) = run(&single, &l.join(" "), "");
        errs.push_str(&e);
    }
    assert_eq!(err, errs);
    let saved = run(&batch, "-Sn", "").1;
    assert!(saved.lines().count() > 3000, "{}", saved.lines().count());
    assert_eq!(saved, run(&single, "-Sn", "").1);
    assert_eq!(run(&batch, "-Ln", "").1, run(&single, "-Ln", "").1);
}
