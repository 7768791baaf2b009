//! lvsadm's formatters against ipvsadm 1.31's own output (tests/data/ipvsadm).

mod common;

use common::tbl::{load, FixtureResolver};
use common::{eq_text, fixture};
use lvsd::cli::names::NoResolver;
use lvsd::cli::save::{format_save, format_save_with};

fn table(name: &str) -> common::tbl::Fixture {
    load(&fixture(&format!("state/{name}.tbl")))
}

#[test]
fn save_numeric_main() {
    let f = table("main");
    eq_text(
        &fixture("out/main__S-n.stdout"),
        &format_save(&f.table, true),
    );
}

#[test]
fn save_numeric_null_fwd() {
    let f = table("null-fwd");
    eq_text(
        &fixture("out/null-fwd__S-n.stdout"),
        &format_save_with(&f.table, true, &NoResolver),
    );
}

#[test]
fn save_numeric_sort_overflow() {
    let f = table("sort-overflow");
    eq_text(
        &fixture("out/sort-overflow__S-n.stdout"),
        &format_save(&f.table, true),
    );
}

#[test]
fn save_names() {
    let f = table("names");
    let r = FixtureResolver::new(&fixture("state/names.hosts"));
    eq_text(
        &fixture("out/names__S.stdout"),
        &format_save_with(&f.table, false, &r),
    );
}

use lvsd::cli::conn::format_conns;
use lvsd::cli::list::{
    format_daemons, format_list_all, format_list_service, format_timeout, Format,
};
use lvsd::cli::names::Resolver;
use lvsd::model::{Family, ServiceKey};

fn fmt_of(flags: &[&str]) -> Format {
    let mut f = Format::default();
    for fl in flags {
        match *fl {
            "n" => f.numeric = true,
            "stats" => f.stats = true,
            "rate" => f.rate = true,
            "exact" => f.exact = true,
            "thresholds" => f.thresholds = true,
            "persistent-conn" => f.persistent_conn = true,
            "nosort" => f.nosort = true,
            "tun-info" => f.tun_info = true,
            other => panic!("flag {other}"),
        }
    }
    f
}

fn check_all(tbl: &str, out: &str, flags: &[&str], res: &dyn Resolver) {
    let f = table(tbl);
    let info = f.info.unwrap_or(lvsd::model::VersionInfo {
        version: 0x010201,
        conn_tab_size: 4096,
    });
    eq_text(
        &fixture(&format!("out/{out}.stdout")),
        &format_list_all(&info, &f.table, &fmt_of(flags), res),
    );
}

fn check_one(key: ServiceKey, out: &str, flags: &[&str]) {
    let f = table("main");
    let e = f.table.get(&key).expect("service in fixture");
    eq_text(
        &fixture(&format!("out/{out}.stdout")),
        &format_list_service(e, &fmt_of(flags), &NoResolver),
    );
}

#[test]
fn list_main_forms() {
    for (out, flags) in [
        ("main__L-n", &["n"][..]),
        ("main__L-n-nosort", &["n", "nosort"]),
        ("main__L-n-persistent-conn", &["n", "persistent-conn"]),
        ("main__L-n-rate", &["n", "rate"]),
        ("main__L-n-rate-exact", &["n", "rate", "exact"]),
        ("main__L-n-stats", &["n", "stats"]),
        ("main__L-n-stats-exact", &["n", "stats", "exact"]),
        ("main__L-n-thresholds", &["n", "thresholds"]),
        ("main__L-n-tun-info", &["n", "tun-info"]),
    ] {
        check_all("main", out, flags, &NoResolver);
    }
}

#[test]
fn list_other_tables() {
    check_all("null-fwd", "null-fwd__L-n", &["n"], &NoResolver);
    check_all("sort-overflow", "sort-overflow__L-n", &["n"], &NoResolver);
}

#[test]
fn list_names() {
    let r = FixtureResolver::new(&fixture("state/names.hosts"));
    check_all("names", "names__L-n", &["n"], &r);
    check_all("names", "names__L", &[], &r);
    check_all("names", "names__L-stats", &["stats"], &r);
}

#[test]
fn list_single_services() {
    let tcp = |a: &str, port| ServiceKey::Addr {
        protocol: lvsd::model::Protocol::Tcp,
        addr: a.parse().unwrap(),
        port,
    };
    check_one(tcp("10.0.0.1", 80), "main__L-n-t", &["n"]);
    check_one(tcp("10.0.0.1", 80), "main__L-n-t-stats", &["n", "stats"]);
    check_one(tcp("2001:db8::1", 80), "main__L-n-t6", &["n"]);
    check_one(
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 100,
        },
        "main__L-n-f",
        &["n"],
    );
    check_one(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 200,
        },
        "main__L-n-f6",
        &["n"],
    );
}

#[test]
fn list_timeout_and_daemon() {
    let f = table("main");
    eq_text(
        &fixture("out/main__L-timeout.stdout"),
        &format_timeout(&f.timeouts.unwrap()),
    );
    eq_text(
        &fixture("out/main__L-daemon.stdout"),
        &format_daemons(&f.daemons),
    );
}

#[test]
fn list_connections() {
    let proc = fixture("state/proc_net_ip_vs_conn.txt");
    eq_text(
        &fixture("out/main__L-n-c.stdout"),
        &format_conns(&proc, false, true, &NoResolver).unwrap(),
    );
    eq_text(
        &fixture("out/main__L-n-c-persistent-conn.stdout"),
        &format_conns(&proc, true, true, &NoResolver).unwrap(),
    );
}
