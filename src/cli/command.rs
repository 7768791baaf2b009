//! High-level command: ipvsadm 1.31's `parse_options` and
//! `process_options` checks (option/command table, tunnel table, value
//! parsers, messages and exit codes) turning low-level args into a typed
//! [`Command`].
//!
//! Called by `cli::run`. Pure apart from name look-ups.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::args::{Opt, Popt};
use super::list::Format;
use super::names::{NoResolver, Resolver};
use super::parse::{atoi, inet_aton, parse_fwmark, parse_service, string_to_number, ServiceParse};
use crate::kernel::Operation;
use crate::model::{
    Family, Forward, Protocol, RealServer, ServiceFlags, ServiceKey, SyncDaemon, SyncState,
    Timeouts, TunnelFlags, TunnelType, VirtualService,
};

/// `MAX_TIMEOUT`: 31 days.
const MAX_TIMEOUT: i64 = 86400 * 31;
/// `IPVS_SVC_PERSISTENT_TIMEOUT`: `-p` without a value.
const DEFAULT_PERSISTENT_TIMEOUT: u32 = 6 * 60;

/// What the command line asks for, fully checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `-L` of the whole table.
    ListAll(Format),
    /// `-L` of one service.
    ListService(ServiceKey, Format),
    /// `-L -c`.
    ListConn(Format),
    /// `-L --timeout`.
    ListTimeout,
    /// `-L --daemon`.
    ListDaemon,
    /// `-S` (`numeric` with `-n`).
    Save {
        /// `-n`.
        numeric: bool,
    },
    /// `-R`.
    Restore,
    /// A change to the kernel's table, sent as it is: `-C`, `-A`, `-E`,
    /// `-D`, `-Z`, `-a`, `-e`, `-d`, `--set`, `--start-daemon`,
    /// `--stop-daemon`.
    Operation(Operation),
}

/// The command line ends the program before any kernel work: a message on
/// stderr (or help on stdout) and an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
    /// Exit status (ipvsadm's -1 is 255).
    pub code: i32,
}

impl Exit {
    /// ipvsadm's `fail(err, msg)`.
    fn fail(code: i32, msg: impl Into<String>) -> Exit {
        Exit {
            stdout: String::new(),
            stderr: format!("{}\n", msg.into()),
            code,
        }
    }
}

/// ipvsadm's `tryhelp_exit(program, -1)`.
pub fn tryhelp(program: &str) -> Exit {
    Exit {
        stdout: String::new(),
        stderr: format!("Try `{program} -h' or '{program} --help' for more information.\n"),
        code: 255,
    }
}

/// ipvsadm's version line.
pub const VERSION_LINE: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n";

/// ipvsadm's `usage_exit(program, 0)` text.
pub fn usage(program: &str) -> String {
    let mut s = String::from(VERSION_LINE);
    s.push_str("Usage:\n");
    for l in [
        "-A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]",
        "-D virtual-service",
        "-C",
        "-R",
        "-S [-n]",
        "-a|e virtual-service -r server-address [options]",
        "-d virtual-service -r server-address",
        "-L|l [virtual-service] [options]",
        "-Z [virtual-service]",
        "--set tcp tcpfin udp",
        "--start-daemon {master|backup} [daemon-options]",
        "--stop-daemon {master|backup}",
        "-h",
    ] {
        s.push_str(&format!("  {program} {l}\n"));
    }
    s.push('\n');
    s.push_str(USAGE_BODY);
    s
}

const USAGE_BODY: &str = "Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
";

/// ipvsadm's commands, in `cmdnames` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
}

const CMDNAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

const OPTNAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

// OPTC_* indexes.
const O_NUMERIC: usize = 0;
const O_CONNECTION: usize = 1;
const O_SERVICE: usize = 2;
const O_SCHEDULER: usize = 3;
const O_PERSISTENT: usize = 4;
const O_NETMASK: usize = 5;
const O_SERVER: usize = 6;
const O_FORWARD: usize = 7;
const O_WEIGHT: usize = 8;
const O_UTHRESHOLD: usize = 9;
const O_LTHRESHOLD: usize = 10;
const O_MCAST: usize = 11;
const O_TIMEOUT: usize = 12;
const O_DAEMON: usize = 13;
const O_STATS: usize = 14;
const O_RATE: usize = 15;
const O_THRESHOLDS: usize = 16;
const O_PERSISTENTCONN: usize = 17;
const O_NOSORT: usize = 18;
const O_SYNCID: usize = 19;
const O_EXACT: usize = 20;
const O_ONEPACKET: usize = 21;
const O_PE: usize = 22;
const O_SCHED_FLAGS: usize = 23;
const O_MCAST_GROUP: usize = 24;
const O_MCAST_PORT: usize = 25;
const O_MCAST_TTL: usize = 26;
const O_SYNC_MAXLEN: usize = 27;
const O_TUN_INFO: usize = 28;
const O_TUN_TYPE: usize = 29;
const O_TUN_PORT: usize = 30;
const O_TUN_NOCSUM: usize = 31;
const O_TUN_CSUM: usize = 32;
const O_TUN_REMCSUM: usize = 33;

/// ipvsadm's `commands_v_options` (rows in `Cmd` order, columns OPTC_*).
const COMMANDS_V_OPTIONS: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // ADD
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // EDIT
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // DEL
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // FLUSH
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // LIST
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // ADDSRV
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // DELSRV
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // EDITSRV
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // TIMEOUT
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // STARTD
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // STOPD
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // RESTORE
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // SAVE
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // ZERO
];

/// `tunnel_types_v_options` (ipip, gue, gre) over tun-port, nocsum,
/// csum, remcsum.
const TUNNEL_V_OPTIONS: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];
const TUNOPTS: [usize; 4] = [O_TUN_PORT, O_TUN_NOCSUM, O_TUN_CSUM, O_TUN_REMCSUM];
const TUNNAMES: [&str; 3] = ["ipip", "gue", "gre"];

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// ipvsadm's `struct ipvs_command_entry`, field for field, so the order
/// effects of its parser (`-M` before `-t`, `-r` before `-t`) carry over.
#[derive(Debug, Clone)]
struct Ce {
    cmd: Option<Cmd>,
    af: u16,
    protocol: u16,
    addr: IpAddr,
    port: u16,
    fwmark: u32,
    sched: String,
    flags: u32,
    timeout: u32,
    netmask: u32,
    pe: String,
    d_af: u16,
    d_addr: IpAddr,
    d_port: u16,
    conn_flags: u32,
    weight: i32,
    u_threshold: u32,
    l_threshold: u32,
    tun_type: u8,
    tun_port: u16,
    tun_flags: u16,
    timeouts: Timeouts,
    state: SyncState,
    mcast_ifn: String,
    syncid: u32,
    sync_maxlen: u16,
    mcast_group: Option<IpAddr>,
    mcast_port: u16,
    mcast_ttl: u8,
}

impl Ce {
    fn new() -> Ce {
        Ce {
            cmd: None,
            af: 0,
            protocol: 0,
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            fwmark: 0,
            sched: String::new(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe: String::new(),
            d_af: 0,
            d_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            d_port: 0,
            conn_flags: Forward::Route.value(),
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
            timeouts: Timeouts::default(),
            state: SyncState::Master,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    /// `-t`/`-u`/`--sctp-service`'s address: family, address and port.
    fn set_service_addr(&mut self, parsed: ServiceParse) {
        self.addr = parsed.addr;
        if parsed.addr.is_ipv6() {
            self.af = AF_INET6;
            self.netmask = 128;
        } else {
            self.af = AF_INET;
        }
        if let Some(port) = parsed.port {
            self.port = port;
        }
    }

    /// `-r`'s address: family, address and port (the service's if none).
    fn set_real_addr(&mut self, parsed: ServiceParse) {
        self.d_af = if parsed.addr.is_ipv6() {
            AF_INET6
        } else {
            AF_INET
        };
        self.d_addr = parsed.addr;
        self.d_port = parsed.port.unwrap_or(self.port);
    }

    /// `process_options`'s checks and defaults of `-A` and `-E`.
    fn finish_service(&mut self) -> Result<(), Exit> {
        if self.fwmark == 0 && self.port == 0 && self.flags & ServiceFlags::PERSISTENT == 0 {
            return Err(Exit::fail(
                2,
                "Zero port specified for non-persistent service",
            ));
        }
        if self.flags & ServiceFlags::ONEPACKET != 0 && self.fwmark == 0 && self.protocol != 17 {
            return Err(Exit::fail(
                2,
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        if self.sched.is_empty() {
            self.sched = "wlc".to_string();
        }
        Ok(())
    }

    /// `process_options`'s checks and defaults of `-a` and `-e`.
    fn finish_dest(&mut self, options: u64) -> Result<(), Exit> {
        let fwd = self.conn_flags & 0x7;
        let (tun, dr) = (Forward::Tunnel.value(), Forward::Route.value());
        if self.fwmark == 0 && (fwd == tun || fwd == dr) {
            self.d_port = self.port;
        }
        if self.d_af != self.af && fwd != tun {
            return Err(Exit::fail(
                2,
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tun_opts = (1u64 << O_TUN_TYPE)
            | (1u64 << O_TUN_PORT)
            | (1u64 << O_TUN_NOCSUM)
            | (1u64 << O_TUN_CSUM)
            | (1u64 << O_TUN_REMCSUM);
        if options & tun_opts != 0 && fwd != tun {
            return Err(Exit::fail(2, "Tunnel options conflict with forward method"));
        }
        tunnel_opt_check(self.tun_type, options)
    }

    /// The kernel's key for the service part.
    fn key(&self) -> Option<ServiceKey> {
        if self.fwmark != 0 {
            Some(ServiceKey::Fwmark {
                family: if self.af == AF_INET6 {
                    Family::V6
                } else {
                    Family::V4
                },
                mark: self.fwmark,
            })
        } else if self.af == 0 {
            None
        } else {
            Some(ServiceKey::Addr {
                protocol: Protocol::from_number(self.protocol),
                addr: self.addr,
                port: self.port,
            })
        }
    }

    /// An all-zero key for commands given no service (`-Z` alone).
    fn key_or_zero(&self) -> ServiceKey {
        self.key().unwrap_or(ServiceKey::Addr {
            protocol: Protocol::from_number(self.protocol),
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
        })
    }

    fn service(&self) -> VirtualService {
        let mut s = VirtualService::new(self.key_or_zero());
        s.scheduler = self.sched.clone();
        s.flags = ServiceFlags(self.flags);
        s.timeout = self.timeout;
        s.netmask = self.netmask;
        s.pe_name = if self.pe.is_empty() {
            None
        } else {
            Some(self.pe.clone())
        };
        s
    }

    fn dest(&self) -> RealServer {
        let mut d = RealServer::new(self.d_addr, self.d_port);
        d.forward = Forward::from_value(self.conn_flags & 0x7);
        d.weight = self.weight;
        d.u_threshold = self.u_threshold;
        d.l_threshold = self.l_threshold;
        d.tun_type = TunnelType::from_value(self.tun_type).unwrap_or_default();
        d.tun_port = self.tun_port;
        d.tun_flags = TunnelFlags(self.tun_flags);
        d
    }
}

/// Truncate to at most `n` bytes (C's `strncpy` into a fixed field).
fn cut(s: &str, n: usize) -> String {
    super::names::truncate_bytes(s.to_string(), n)
}

fn set_command(ce: &mut Ce, cmd: Cmd) -> Result<(), Exit> {
    if ce.cmd.is_some() {
        return Err(Exit::fail(2, "multiple commands specified"));
    }
    ce.cmd = Some(cmd);
    Ok(())
}

fn set_option(options: &mut u64, optc: usize) -> Result<(), Exit> {
    let bit = 1u64 << optc;
    if *options & bit != 0 {
        let name = OPTNAMES.get(optc).copied().unwrap_or("");
        return Err(Exit::fail(
            2,
            format!("multiple '{name}' options specified"),
        ));
    }
    *options |= bit;
    Ok(())
}

fn parse_timeout(s: Option<&str>, min: i64, max: i64) -> Result<u32, Exit> {
    let Some(s) = s else {
        return Ok(DEFAULT_PERSISTENT_TIMEOUT);
    };
    string_to_number(s, min, max)
        .map(|v| v as u32)
        .ok_or_else(|| Exit::fail(2, format!("invalid timeout value `{s}' specified")))
}

fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Exit> {
    let sched = if sched.is_empty() { "wlc" } else { sched };
    let mut flags = 0;
    // strtok skips empty fields; an argument of only commas has no flag
    // at all (ipvsadm itself crashes there).
    let toks: Vec<&str> = arg.split(',').filter(|t| !t.is_empty()).collect();
    if toks.is_empty() {
        return Err(Exit::fail(2, "invalid scheduler flag `'"));
    }
    for flag in toks {
        let Some((bit, need)) = ServiceFlags::from_word(flag) else {
            return Err(Exit::fail(2, format!("invalid scheduler flag `{flag}'")));
        };
        flags |= bit;
        if need.is_some_and(|n| n != sched) {
            return Err(Exit::fail(
                2,
                format!("incompatible scheduler flag `{flag}'"),
            ));
        }
    }
    Ok(flags)
}

/// A row of `COMMANDS_V_OPTIONS` as bit masks: options that are illegal
/// (`x`), required (`+`) and mutually exclusive (`1`).
#[allow(clippy::indexing_slicing)]
const fn row_masks(row: &[u8; 34]) -> [u64; 3] {
    let mut m = [0u64; 3];
    let mut j = 0;
    while j < 34 {
        match row[j] {
            b'x' => m[0] |= 1 << j,
            b'+' => m[1] |= 1 << j,
            b'1' => m[2] |= 1 << j,
            _ => {}
        }
        j += 1;
    }
    m
}

/// `row_masks` of every command, computed at compile time.
#[allow(clippy::indexing_slicing)]
const OPTION_MASKS: [[u64; 3]; 14] = {
    let mut all = [[0u64; 3]; 14];
    let mut i = 0;
    while i < 14 {
        all[i] = row_masks(COMMANDS_V_OPTIONS[i]);
        i += 1;
    }
    all
};

fn generic_opt_check(cmd: Cmd, options: u64) -> Result<(), Exit> {
    let i = cmd as usize;
    // Nearly every line passes: check with three masks, and walk the row
    // cell by cell (for ipvsadm's message) only when something is wrong.
    if let Some([illegal, required, one_of]) = OPTION_MASKS.get(i) {
        if options & illegal == 0
            && options & required == *required
            && (options & one_of).count_ones() <= 1
        {
            return Ok(());
        }
    }
    let row = COMMANDS_V_OPTIONS.get(i).copied().unwrap_or(&[b'x'; 34]);
    let cname = CMDNAMES.get(i).copied().unwrap_or("");
    let mut last = 0usize;
    let mut count = 0;
    for (j, cell) in row.iter().enumerate() {
        let name = OPTNAMES.get(j).copied().unwrap_or("");
        if options & (1u64 << j) == 0 {
            if *cell == b'+' {
                return Err(Exit::fail(
                    2,
                    format!("You need to supply the '{name}' option for the '{cname}' command"),
                ));
            }
        } else {
            if *cell == b'x' {
                return Err(Exit::fail(
                    2,
                    format!("Illegal '{name}' option with the '{cname}' command"),
                ));
            }
            if *cell == b'1' {
                count += 1;
                if count == 1 {
                    last = j;
                    continue;
                }
                let lname = OPTNAMES.get(last).copied().unwrap_or("");
                return Err(Exit::fail(
                    2,
                    format!(
                        "The option '{name}' conflicts with the '{lname}' option in the '{cname}' command"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn tunnel_opt_check(tun_type: u8, options: u64) -> Result<(), Exit> {
    let i = usize::from(tun_type);
    let (Some(row), Some(tname)) = (TUNNEL_V_OPTIONS.get(i), TUNNAMES.get(i)) else {
        return Ok(());
    };
    // No tunnel option given and none required (every `-a` of a restore).
    let given = TUNOPTS.iter().fold(0u64, |m, k| m | 1u64 << k);
    if options & given == 0 && !row.contains(&b'+') {
        return Ok(());
    }
    let mut last = 0usize;
    let mut count = 0;
    for (j, k) in TUNOPTS.iter().enumerate() {
        let cell = row.get(j).copied().unwrap_or(b' ');
        let name = OPTNAMES.get(*k).copied().unwrap_or("");
        if options & (1u64 << k) == 0 {
            if cell == b'+' {
                return Err(Exit::fail(
                    2,
                    format!("You need to supply the '{name}' option for the '{tname}' tunnel type"),
                ));
            }
        } else {
            if cell == b'x' {
                return Err(Exit::fail(
                    2,
                    format!("Illegal '{name}' option with the '{tname}' tunnel type"),
                ));
            }
            if cell == b'1' {
                count += 1;
                if count == 1 {
                    last = *k;
                    continue;
                }
                let lname = OPTNAMES.get(last).copied().unwrap_or("");
                return Err(Exit::fail(
                    2,
                    format!(
                        "The option '{name}' conflicts with the '{lname}' option in the '{tname}' tunnel type"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Parse one ipvsadm command line (`argv[0]` is the program name) into a
/// [`Command`], or the early exit ipvsadm would take.
pub fn parse_command<S: AsRef<str>>(argv: &[S], res: &dyn Resolver) -> Result<Command, Exit> {
    match saved_line(argv) {
        Some(cmd) => Ok(cmd),
        None => parse_any(argv, res),
    }
}

/// The two line shapes `ipvsadm -S -n` writes for a plain table,
/// `-A -t|-u ADDR:PORT -s SCHED` and `-a -t|-u ADDR:PORT -r ADDR[:PORT]
/// -m|-g|-i -w WEIGHT`, read without popt's walk: most lines of a big
/// restore are these. The values go through the same parsers, setters
/// and checks as in `parse_any`; anything else, or anything that fails
/// (an error message to print, a name to look up), is None and
/// `parse_any` reads the line from the start.
/// `tests::saved_lines_read_as_popt_reads_them` holds the two to the
/// same result.
fn saved_line<S: AsRef<str>>(argv: &[S]) -> Option<Command> {
    let [_, cmd, proto, svc, rest @ ..] = argv else {
        return None;
    };
    let protocol = match proto.as_ref() {
        "-t" => 6,
        "-u" => 17,
        _ => return None,
    };
    let mut ce = Ce::new();
    ce.protocol = protocol;
    ce.set_service_addr(parse_service(svc.as_ref(), protocol, &NoResolver)?);
    match (cmd.as_ref(), rest) {
        ("-A", [s, sched]) if s.as_ref() == "-s" => {
            let options = (1 << O_SERVICE) | (1 << O_SCHEDULER);
            ce.cmd = Some(Cmd::Add);
            ce.sched = cut(sched.as_ref(), 15);
            generic_opt_check(Cmd::Add, options).ok()?;
            ce.finish_service().ok()?;
            Some(Command::Operation(Operation::AddService(ce.service())))
        }
        ("-a", [r, real, fwd, w, weight]) if r.as_ref() == "-r" && w.as_ref() == "-w" => {
            let options = (1 << O_SERVICE) | (1 << O_SERVER) | (1 << O_FORWARD) | (1 << O_WEIGHT);
            ce.cmd = Some(Cmd::AddDest);
            ce.set_real_addr(parse_service(real.as_ref(), protocol, &NoResolver)?);
            ce.conn_flags = match fwd.as_ref() {
                "-m" => Forward::Masq,
                "-g" => Forward::Route,
                "-i" => Forward::Tunnel,
                _ => return None,
            }
            .value();
            ce.weight = string_to_number(weight.as_ref(), 0, i64::from(i32::MAX))? as i32;
            generic_opt_check(Cmd::AddDest, options).ok()?;
            ce.finish_dest(options).ok()?;
            Some(Command::Operation(Operation::AddDest(
                ce.key_or_zero(),
                ce.dest(),
            )))
        }
        _ => None,
    }
}

/// Any command line, option by option as popt hands them out.
fn parse_any<S: AsRef<str>>(argv: &[S], res: &dyn Resolver) -> Result<Command, Exit> {
    let program = argv.first().map(AsRef::as_ref).unwrap_or("ipvsadm");
    let mut ce = Ce::new();
    let mut options: u64 = 0;
    let mut fmt = Format::default();
    let mut sched_flags_arg = String::new();
    let mut popt = Popt::new(argv);

    let first = match popt.next_opt() {
        Ok(Some(p)) => p,
        _ => return Err(tryhelp(program)),
    };
    let state_of = |a: &Option<&str>| match *a {
        Some("master") => Some(SyncState::Master),
        Some("backup") => Some(SyncState::Backup),
        _ => None,
    };
    match first.opt {
        Opt::AddService => set_command(&mut ce, Cmd::Add)?,
        Opt::EditService => set_command(&mut ce, Cmd::Edit)?,
        Opt::DelService => set_command(&mut ce, Cmd::Del)?,
        Opt::AddServer => set_command(&mut ce, Cmd::AddDest)?,
        Opt::EditServer => set_command(&mut ce, Cmd::EditDest)?,
        Opt::DelServer => set_command(&mut ce, Cmd::DelDest)?,
        Opt::Clear => set_command(&mut ce, Cmd::Flush)?,
        Opt::List => set_command(&mut ce, Cmd::List)?,
        Opt::Zero => set_command(&mut ce, Cmd::Zero)?,
        Opt::Set => set_command(&mut ce, Cmd::Timeout)?,
        Opt::Restore => set_command(&mut ce, Cmd::Restore)?,
        Opt::Save => set_command(&mut ce, Cmd::Save)?,
        Opt::StartDaemon => {
            set_command(&mut ce, Cmd::StartDaemon)?;
            ce.state = state_of(&first.arg)
                .ok_or_else(|| Exit::fail(2, "illegal start-daemon parameter specified"))?;
        }
        Opt::StopDaemon => {
            set_command(&mut ce, Cmd::StopDaemon)?;
            ce.state = state_of(&first.arg)
                .ok_or_else(|| Exit::fail(2, "illegal start_daemon specified"))?;
        }
        Opt::Help => {
            return Err(Exit {
                stdout: usage(program),
                stderr: String::new(),
                code: 0,
            })
        }
        Opt::Version => {
            return Err(Exit {
                stdout: VERSION_LINE.to_string(),
                stderr: String::new(),
                code: 0,
            })
        }
        _ => return Err(tryhelp(program)),
    }

    loop {
        let p = match popt.next_opt() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                return Err(Exit {
                    stdout: String::new(),
                    stderr: format!("{}: {}\n", popt.bad_option(), e.message()),
                    code: 255,
                })
            }
        };
        let arg = p.arg.unwrap_or_default();
        match p.opt {
            Opt::TcpService | Opt::UdpService | Opt::SctpService => {
                set_option(&mut options, O_SERVICE)?;
                ce.protocol = match p.opt {
                    Opt::TcpService => 6,
                    Opt::UdpService => 17,
                    _ => 132,
                };
                let parsed = parse_service(arg, ce.protocol, res).ok_or_else(|| {
                    Exit::fail(2, "illegal virtual server address[:port] specified")
                })?;
                ce.set_service_addr(parsed);
            }
            Opt::FwmarkService => {
                set_option(&mut options, O_SERVICE)?;
                ce.af = AF_INET;
                ce.protocol = 6;
                ce.fwmark = parse_fwmark(arg).ok_or_else(|| {
                    Exit::fail(2, format!("invalid fwmark value `{arg}' specified"))
                })?;
            }
            Opt::Scheduler => {
                set_option(&mut options, O_SCHEDULER)?;
                ce.sched = cut(arg, 15);
            }
            Opt::Persistent => {
                set_option(&mut options, O_PERSISTENT)?;
                ce.flags |= ServiceFlags::PERSISTENT;
                ce.timeout = parse_timeout(p.arg, 1, MAX_TIMEOUT)?;
            }
            Opt::Netmask => {
                set_option(&mut options, O_NETMASK)?;
                if ce.af != AF_INET6 {
                    let m = inet_aton(arg)
                        .or_else(|| res.host_addr(arg))
                        .ok_or_else(|| {
                            Exit::fail(2, "illegal virtual server persistent mask specified")
                        })?;
                    ce.netmask = u32::from(m);
                } else {
                    let m = atoi(arg);
                    if !(1..=128).contains(&m) {
                        return Err(Exit::fail(2, "illegal ipv6 netmask specified"));
                    }
                    ce.netmask = m as u32;
                }
            }
            Opt::RealServer => {
                set_option(&mut options, O_SERVER)?;
                match parse_service(arg, ce.protocol, res) {
                    Some(parsed) => ce.set_real_addr(parsed),
                    None => {
                        return Err(Exit::fail(
                            2,
                            "illegal real server address[:port] specified",
                        ))
                    }
                }
            }
            Opt::Ipip | Opt::Gatewaying | Opt::Masquerading => {
                set_option(&mut options, O_FORWARD)?;
                ce.conn_flags = match p.opt {
                    Opt::Ipip => Forward::Tunnel.value(),
                    Opt::Gatewaying => Forward::Route.value(),
                    _ => Forward::Masq.value(),
                };
            }
            Opt::Weight => {
                set_option(&mut options, O_WEIGHT)?;
                // Debian's ipvsadm 1.31 allows weights up to INT_MAX.
                ce.weight = string_to_number(arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Exit::fail(2, "illegal weight specified"))?
                    as i32;
            }
            Opt::UThreshold => {
                set_option(&mut options, O_UTHRESHOLD)?;
                ce.u_threshold = string_to_number(arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Exit::fail(2, "illegal u_threshold specified"))?
                    as u32;
            }
            Opt::LThreshold => {
                set_option(&mut options, O_LTHRESHOLD)?;
                ce.l_threshold = string_to_number(arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Exit::fail(2, "illegal l_threshold specified"))?
                    as u32;
            }
            Opt::Connection => set_option(&mut options, O_CONNECTION)?,
            Opt::Numeric => {
                set_option(&mut options, O_NUMERIC)?;
                fmt.numeric = true;
            }
            Opt::McastInterface => {
                set_option(&mut options, O_MCAST)?;
                ce.mcast_ifn = cut(arg, 15);
            }
            Opt::SyncId => {
                set_option(&mut options, O_SYNCID)?;
                ce.syncid = string_to_number(arg, 0, 255)
                    .ok_or_else(|| Exit::fail(2, "illegal syncid specified"))?
                    as u32;
            }
            Opt::Timeout => set_option(&mut options, O_TIMEOUT)?,
            Opt::Daemon => set_option(&mut options, O_DAEMON)?,
            Opt::Stats => {
                set_option(&mut options, O_STATS)?;
                fmt.stats = true;
            }
            Opt::Rate => {
                set_option(&mut options, O_RATE)?;
                fmt.rate = true;
            }
            Opt::Thresholds => {
                set_option(&mut options, O_THRESHOLDS)?;
                fmt.thresholds = true;
            }
            Opt::PersistentConn => {
                set_option(&mut options, O_PERSISTENTCONN)?;
                fmt.persistent_conn = true;
            }
            Opt::NoSort => {
                set_option(&mut options, O_NOSORT)?;
                fmt.nosort = true;
            }
            Opt::Sort => {}
            Opt::Exact => {
                set_option(&mut options, O_EXACT)?;
                fmt.exact = true;
            }
            Opt::Ipv6 => {
                if ce.fwmark != 0 {
                    ce.af = AF_INET6;
                    ce.netmask = 128;
                } else {
                    return Err(Exit::fail(2, "-6 used before -f\n"));
                }
            }
            Opt::Ops => {
                set_option(&mut options, O_ONEPACKET)?;
                ce.flags |= ServiceFlags::ONEPACKET;
            }
            Opt::Pe => {
                set_option(&mut options, O_PE)?;
                ce.pe = cut(arg, 15);
            }
            Opt::SchedFlags => {
                set_option(&mut options, O_SCHED_FLAGS)?;
                sched_flags_arg = cut(arg, 127);
            }
            Opt::McastGroup => {
                set_option(&mut options, O_MCAST_GROUP)?;
                if arg.contains(':') {
                    match arg.parse::<Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => ce.mcast_group = Some(IpAddr::V6(a)),
                        _ => {
                            return Err(Exit::fail(2, format!("invalid IPv6 mcast-group `{arg}'")))
                        }
                    }
                } else {
                    match arg.parse::<Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => ce.mcast_group = Some(IpAddr::V4(a)),
                        _ => {
                            return Err(Exit::fail(2, format!("invalid IPv4 mcast-group `{arg}'")))
                        }
                    }
                }
            }
            Opt::McastPort => {
                set_option(&mut options, O_MCAST_PORT)?;
                ce.mcast_port = string_to_number(arg, 1, 65535)
                    .ok_or_else(|| Exit::fail(2, "illegal mcast-port specified"))?
                    as u16;
            }
            Opt::McastTtl => {
                set_option(&mut options, O_MCAST_TTL)?;
                ce.mcast_ttl = string_to_number(arg, 1, 255)
                    .ok_or_else(|| Exit::fail(2, "illegal mcast-ttl specified"))?
                    as u8;
            }
            Opt::SyncMaxlen => {
                set_option(&mut options, O_SYNC_MAXLEN)?;
                ce.sync_maxlen = string_to_number(arg, 1, 65535 - 20 - 8)
                    .ok_or_else(|| Exit::fail(2, "illegal sync-maxlen specified"))?
                    as u16;
            }
            Opt::TunInfo => {
                set_option(&mut options, O_TUN_INFO)?;
                fmt.tun_info = true;
            }
            Opt::TunType => {
                set_option(&mut options, O_TUN_TYPE)?;
                ce.tun_type = match arg {
                    "ipip" => 0,
                    "gue" => 1,
                    "gre" => 2,
                    _ => return Err(Exit::fail(2, "illegal tunnel type specified")),
                };
            }
            Opt::TunPort => {
                set_option(&mut options, O_TUN_PORT)?;
                ce.tun_port = string_to_number(arg, 1, 65535)
                    .ok_or_else(|| Exit::fail(2, "illegal tunnel port specified"))?
                    as u16;
            }
            Opt::TunNocsum => {
                set_option(&mut options, O_TUN_NOCSUM)?;
            }
            Opt::TunCsum => {
                set_option(&mut options, O_TUN_CSUM)?;
                ce.tun_flags |= TunnelFlags::CSUM;
            }
            Opt::TunRemcsum => {
                set_option(&mut options, O_TUN_REMCSUM)?;
                ce.tun_flags |= TunnelFlags::REMCSUM;
            }
            _ => {
                return Err(Exit::fail(
                    2,
                    format!("invalid option `{}'", popt.bad_option()),
                ))
            }
        }
    }

    let cmd = ce.cmd.unwrap_or(Cmd::List);
    if cmd == Cmd::Timeout {
        let a = popt.next_arg();
        let b = popt.next_arg();
        let c = popt.next_arg();
        match (a, b, c) {
            (Some(a), Some(b), Some(c)) => {
                ce.timeouts.tcp = parse_timeout(Some(&a), 0, MAX_TIMEOUT)?;
                ce.timeouts.tcp_fin = parse_timeout(Some(&b), 0, MAX_TIMEOUT)?;
                ce.timeouts.udp = parse_timeout(Some(&c), 0, MAX_TIMEOUT)?;
            }
            _ => return Err(Exit::fail(2, "--set option requires 3 timeout values")),
        }
    }
    if let Some(extra) = popt.next_arg() {
        return Err(Exit::fail(2, format!("unexpected argument {extra}")));
    }
    if !sched_flags_arg.is_empty() {
        ce.flags &= !(ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::SCHED3);
        ce.flags |= parse_sched_flags(&ce.sched, &sched_flags_arg)?;
    }

    generic_opt_check(cmd, options)?;

    if cmd == Cmd::Add || cmd == Cmd::Edit {
        ce.finish_service()?;
    }
    if cmd == Cmd::StartDaemon && ce.mcast_ifn.is_empty() {
        ce.mcast_ifn = "eth0".to_string();
    }
    if cmd == Cmd::AddDest || cmd == Cmd::EditDest {
        ce.finish_dest(options)?;
    }

    Ok(match cmd {
        Cmd::List => {
            let conflict = (options & ((1 << O_CONNECTION) | (1 << O_TIMEOUT) | (1 << O_DAEMON))
                != 0
                && options & ((1 << O_STATS) | (1 << O_RATE) | (1 << O_THRESHOLDS)) != 0)
                || (options & ((1 << O_TIMEOUT) | (1 << O_DAEMON)) != 0
                    && options & (1 << O_PERSISTENTCONN) != 0);
            if conflict {
                return Err(Exit::fail(2, "options conflicts in the list command"));
            }
            if options & (1 << O_CONNECTION) != 0 {
                Command::ListConn(fmt)
            } else if options & (1 << O_SERVICE) != 0 {
                Command::ListService(ce.key_or_zero(), fmt)
            } else if options & (1 << O_TIMEOUT) != 0 {
                Command::ListTimeout
            } else if options & (1 << O_DAEMON) != 0 {
                Command::ListDaemon
            } else {
                Command::ListAll(fmt)
            }
        }
        Cmd::Restore => Command::Restore,
        Cmd::Save => Command::Save {
            numeric: fmt.numeric,
        },
        Cmd::Flush => Command::Operation(Operation::Flush),
        Cmd::Add => Command::Operation(Operation::AddService(ce.service())),
        Cmd::Edit => Command::Operation(Operation::EditService(ce.service())),
        Cmd::Del => Command::Operation(Operation::DelService(ce.key_or_zero())),
        Cmd::Zero => {
            let zero_all = ce.fwmark == 0
                && ce.port == 0
                && match ce.addr {
                    IpAddr::V4(a) => a.is_unspecified(),
                    IpAddr::V6(a) => a.is_unspecified(),
                };
            Command::Operation(Operation::Zero(if zero_all { None } else { ce.key() }))
        }
        Cmd::AddDest => Command::Operation(Operation::AddDest(ce.key_or_zero(), ce.dest())),
        Cmd::EditDest => Command::Operation(Operation::EditDest(ce.key_or_zero(), ce.dest())),
        Cmd::DelDest => {
            Command::Operation(Operation::DelDest(ce.key_or_zero(), ce.d_addr, ce.d_port))
        }
        Cmd::Timeout => Command::Operation(Operation::SetTimeouts(ce.timeouts)),
        Cmd::StartDaemon => Command::Operation(Operation::StartDaemon(SyncDaemon {
            state: ce.state,
            mcast_ifn: ce.mcast_ifn.clone(),
            syncid: ce.syncid,
            sync_maxlen: ce.sync_maxlen,
            mcast_group: ce.mcast_group,
            mcast_port: ce.mcast_port,
            mcast_ttl: ce.mcast_ttl,
        })),
        Cmd::StopDaemon => Command::Operation(Operation::StopDaemon(ce.state)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<String> {
        std::iter::once("ipvsadm")
            .chain(words.iter().copied())
            .map(String::from)
            .collect()
    }

    /// Values for every slot of the two saved shapes: good ones, and ones
    /// each check of `parse_any` refuses.
    fn slot() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "10.0.0.1:80",
            "10.0.0.1",
            "10.0.0.1:0",
            "10.0.0.1:http",
            "[2001:db8::1]:80",
            "2001:db8::2",
            "[2001:db8::3]",
            "0x0a.1:80",
            "1.2.3.4:65536",
            "name:80",
            "",
            "-s",
            "-r",
            "-w",
            "wrr",
            "sh",
            "a-very-long-scheduler-name",
            "0",
            "1",
            "-1",
            "2147483647",
            "2147483648",
            "-m",
            "-g",
            "-i",
            "-t",
            "-u",
            "-A",
            "-a",
        ])
    }

    /// One of `good` three times in four, else any other value.
    fn mostly(
        good: &'static [&'static str],
        bad: &'static [&'static str],
    ) -> impl Strategy<Value = &'static str> {
        let others = slot().boxed();
        let others = if bad.is_empty() {
            others
        } else {
            prop_oneof![others, prop::sample::select(bad)].boxed()
        };
        prop_oneof![3 => prop::sample::select(good), 1 => others]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn saved_lines_read_as_popt_reads_them(
            service_line in any::<bool>(),
            cmd in mostly(&["-A", "-a"], &["-E", "-e", "-d"]),
            proto in mostly(&["-t", "-u"], &["-f", "--tcp-service"]),
            svc in mostly(&["10.0.0.1:80", "[2001:db8::1]:80", "10.0.0.2"], &[]),
            s in mostly(&["-s"], &["-p", "-r"]),
            sched in mostly(&["wrr", "sh"], &[]),
            r in mostly(&["-r"], &["-s", "-p"]),
            real in mostly(&["192.168.1.1:8080", "192.168.1.2", "2001:db8::9"], &[]),
            fwd in mostly(&["-m", "-g", "-i"], &["-x", "-w"]),
            w in mostly(&["-w"], &["-x", "-r"]),
            weight in mostly(&["1", "0", "65536"], &[]),
        ) {
            let words: Vec<&str> = if service_line {
                vec![cmd, proto, svc, s, sched]
            } else {
                vec![cmd, proto, svc, r, real, fwd, w, weight]
            };
            let argv = argv(&words);
            if let Some(fast) = saved_line(&argv) {
                prop_assert_eq!(Ok(fast), parse_any(&argv, &NoResolver));
            }
        }
    }

    #[test]
    fn the_saved_shapes_take_the_short_way() {
        for line in [
            "-A -t 10.0.0.1:80 -s wrr",
            "-A -u [2001:db8::1]:53 -s sh",
            "-a -t 10.0.0.1:80 -r 192.168.0.1:8080 -m -w 1",
            "-a -t 10.0.0.1:80 -r 192.168.0.1 -g -w 0",
            "-a -u [2001:db8::1]:53 -r 10.1.1.1 -i -w 7",
        ] {
            let words: Vec<&str> = line.split(' ').collect();
            let argv = argv(&words);
            let fast = saved_line(&argv);
            assert!(fast.is_some(), "{line}");
            assert_eq!(Ok(fast.unwrap()), parse_any(&argv, &NoResolver));
        }
        // Errors and names are left to popt's reading.
        for line in [
            "-A -t 10.0.0.1:0 -s wrr",
            "-a -t 10.0.0.1:80 -r [2001:db8::1] -m -w 1",
            "-a -t 10.0.0.1:80 -r 192.168.0.1 -m -w -1",
            "-a -t 10.0.0.1:80 -r server:http -m -w 1",
        ] {
            let words: Vec<&str> = line.split(' ').collect();
            assert_eq!(saved_line(&argv(&words)), None, "{line}");
        }
    }
}
