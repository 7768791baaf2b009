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
