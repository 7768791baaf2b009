//! Host harness for lvsadm's own (user-space) cost on the 1000 x 10 `wrr10`
//! table of `scripts/bench-lvsadm.sh`, without a kernel: run one stage
//! under `valgrind --tool=callgrind` (or `perf stat`) and compare
//! instruction counts before and after a change (repeatable on a loaded
//! machine, unlike times).
//!
//! ```text
//! cargo build --release --example lvsadm_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/lvsadm_cost restore
//! ```
//!
//! Stages: `none` (start-up only, the baseline to subtract), `restore`
//! (`-R` of the 11,000 lines into a table that accepts every op: parsing
//! and op building), `encode` (the netlink bytes of those 11,000 ops by
//! the typed `IpvsMessage` path; `encode-fast`: `push_operation`, which
//! `ipvs_netlink::Client::apply` uses; `ops`: building the ops only, to
//! subtract), `proc` (parsing
//! `/proc/net/ip_vs` text of the table and placing its reals), `list`
//! (`-Ln` formatting of the table, sorted).

use std::net::{IpAddr, Ipv4Addr};

use ipvs_netlink as nl;
use lvsd::cli::names::NoResolver;
use lvsd::cli::Session;
use lvsd::kernel::{Error, Ipvs, Operation};
use lvsd::model::{
    Forward, Protocol, RealServer, ServiceKey, SyncDaemon, Table, TableEntry, Timeouts,
    VersionInfo, VirtualService,
};

/// A kernel that accepts every op and lists a fixed table.
struct Null {
    table: Table,
}

impl Ipvs for Null {
    fn info(&self) -> Result<VersionInfo, Error> {
        Ok(info())
    }
    fn services(&self) -> Result<Vec<VirtualService>, Error> {
        Ok(self
            .table
            .entries
            .iter()
            .map(|e| e.service.clone())
            .collect())
    }
    fn service(&self, _: &ServiceKey) -> Result<VirtualService, Error> {
        Err(Error::NoFamily)
    }
    fn dests(&self, _: &ServiceKey) -> Result<Vec<RealServer>, Error> {
        Ok(Vec::new())
    }
    fn timeouts(&self) -> Result<Timeouts, Error> {
        Ok(Timeouts::default())
    }
    fn daemons(&self) -> Result<Vec<SyncDaemon>, Error> {
        Ok(Vec::new())
    }
    fn apply(&self, ops: &[Operation]) -> Vec<Result<(), Error>> {
        std::hint::black_box(ops);
        ops.iter().map(|_| Ok(())).collect()
    }
    fn listing(&self) -> Result<Table, Error> {
        Ok(self.table.clone())
    }
}

fn info() -> VersionInfo {
    VersionInfo {
        version: 0x010201,
        conn_tab_size: 4096,
    }
}

/// The restore text of `wrr10` (as scripts/bench-lvsadm.sh writes it).
fn wrr10_text() -> String {
    let mut s = String::new();
    for i in 0..1000 {
        let (x, y) = (i / 250, i % 250 + 1);
        let vip = format!("10.10.{x}.{y}:80");
        s.push_str(&format!("-A -t {vip} -s wrr\n"));
        for r in 0..10 {
            s.push_str(&format!("-a -t {vip} -r 10.20.{r}.{y}:8080 -m -w 1\n"));
        }
    }
    s
}

/// The table `wrr10` restores to (reals newest first, as the kernel lists).
fn wrr10_table() -> Table {
    let mut entries = Vec::new();
    for i in 0..1000u32 {
        let (x, y) = ((i / 250) as u8, (i % 250 + 1) as u8);
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::new(10, 10, x, y)),
            port: 80,
        };
        let mut service = VirtualService::new(key);
        service.scheduler = "wrr".into();
        let reals = (0..10u8)
            .rev()
            .map(|r| {
                let mut d = RealServer::new(IpAddr::V4(Ipv4Addr::new(10, 20, r, y)), 8080);
                d.forward = Forward::Masq;
                d
            })
            .collect();
        entries.push(TableEntry { service, reals });
    }
    Table { entries }
}

/// `/proc/net/ip_vs` as the kernel writes it for `table`.
fn proc_text(table: &Table) -> String {
    let mut s = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n",
    );
    for e in &table.entries {
        if let ServiceKey::Addr {
            addr: IpAddr::V4(a),
            port,
            ..
        } = e.service.key
        {
            s.push_str(&format!(
                "TCP  {:08X}:{port:04X} {}  \n",
                u32::from(a),
                e.service.scheduler
            ));
        }
        for d in &e.reals {
            if let IpAddr::V4(a) = d.addr {
                s.push_str(&format!(
                    "  -> {:08X}:{:04X}      {:<7} {:<6} {:<10} {:<10}\n",
                    u32::from(a),
                    d.port,
                    "Masq",
                    d.weight,
                    d.active_conns,
                    d.inact_conns
                ));
            }
        }
    }
    s
}

/// The crate's operations of the `wrr10` restore.
fn wrr10_ops() -> Vec<nl::Operation> {
    let mut ops = Vec::new();
    for i in 0..1000u32 {
        let (x, y) = ((i / 250) as u8, (i % 250 + 1) as u8);
        let key = nl::ServiceKey::Addr {
            protocol: nl::Protocol::Tcp,
            addr: IpAddr::V4(Ipv4Addr::new(10, 10, x, y)),
            port: 80,
        };
        let mut svc = nl::Service::new(key);
        svc.scheduler = "wrr".into();
        ops.push(nl::Operation::AddService(svc));
        for r in 0..10u8 {
            let mut d = nl::Destination::new(IpAddr::V4(Ipv4Addr::new(10, 20, r, y)), 8080);
            d.forward = nl::Forward::Masq;
            ops.push(nl::Operation::AddDest(key, d));
        }
    }
    ops
}

fn main() {
    let stage = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    match stage.as_str() {
        "none" => {}
        "restore" => {
            let text = wrr10_text();
            let null = Null {
                table: Table::default(),
            };
            let mut s = Session::new(&null, info(), &NoResolver);
            let argv = ["lvsadm".to_string(), "-R".to_string()];
            let code = s.main(&argv, &mut text.as_bytes());
            assert_eq!(code, 0, "{}", s.stderr);
        }
        "encode-fast" => {
            let ops = wrr10_ops();
            let mut buf = Vec::with_capacity(1 << 20);
            let mut total = 0;
            for (i, op) in ops.iter().enumerate() {
                nl::packet::push_operation(
                    &mut buf,
                    42,
                    nl::packet::FLAGS_CHANGE_QUIET,
                    i as u32,
                    op,
                );
                if buf.len() > 128 * 1024 {
                    total += buf.len();
                    buf.clear();
                }
            }
            std::hint::black_box(total + buf.len());
        }
        "ops" => {
            std::hint::black_box(wrr10_ops());
        }
        "encode" => {
            let ops = wrr10_ops();
            let mut buf = Vec::with_capacity(1 << 20);
            let mut total = 0;
            for (i, op) in ops.iter().enumerate() {
                nl::packet::push_request(
                    &mut buf,
                    42,
                    nl::packet::FLAGS_CHANGE_QUIET,
                    i as u32,
                    nl::packet::IpvsMessage::request(op),
                );
                if buf.len() > 128 * 1024 {
                    total += buf.len();
                    buf.clear();
                }
            }
            std::hint::black_box(total + buf.len());
        }
        "proc" => {
            let table = wrr10_table();
            let text = proc_text(&table);
            let services: Vec<VirtualService> =
                table.entries.iter().map(|e| e.service.clone()).collect();
            let blocks = lvsd::wire::ipvs_proc::parse_ip_vs(&text).expect("parses");
            let placed = lvsd::kernel::place_reals(&services, blocks);
            assert!(placed.iter().all(Option::is_some));
            std::hint::black_box(placed);
        }
        "list" => {
            let null = Null {
                table: wrr10_table(),
            };
            let mut s = Session::new(&null, info(), &NoResolver);
            let argv = ["lvsadm".to_string(), "-Ln".to_string()];
            assert_eq!(s.main(&argv, &mut std::io::empty()), 0);
            assert_eq!(s.stdout.lines().count(), 11_003);
            std::hint::black_box(&s.stdout);
        }
        other => {
            eprintln!(
                "unknown stage {other}: none | restore | ops | encode | encode-fast | proc | list"
            );
            std::process::exit(2);
        }
    }
}
