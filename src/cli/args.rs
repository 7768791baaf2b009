//! Low-level arguments: ipvsadm 1.31's popt option table and popt's
//! grammar (clusters `-Ln`, attached `-t1.2.3.4:80`, `--opt=value`,
//! optional `-p [timeout]`, leftovers, `--`), option by option.
//!
//! Called by `cli::command`. Pure; never panics on any argv.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

/// One option of ipvsadm's popt table (named by what it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// `-A`.
    AddService,
    /// `-E`.
    EditService,
    /// `-D`.
    DelService,
    /// `-C`.
    Clear,
    /// `-L` / `-l`.
    List,
    /// `-Z`.
    Zero,
    /// `-a`.
    AddServer,
    /// `-e`.
    EditServer,
    /// `-d`.
    DelServer,
    /// `--set`.
    Set,
    /// `-h`.
    Help,
    /// `-v`.
    Version,
    /// `-R`.
    Restore,
    /// `-S`.
    Save,
    /// `--start-daemon state`.
    StartDaemon,
    /// `--stop-daemon state`.
    StopDaemon,
    /// `-t`.
    TcpService,
    /// `-u`.
    UdpService,
    /// `--sctp-service`.
    SctpService,
    /// `-f`.
    FwmarkService,
    /// `-s`.
    Scheduler,
    /// `-p [timeout]`.
    Persistent,
    /// `-M`.
    Netmask,
    /// `-r`.
    RealServer,
    /// `-m`.
    Masquerading,
    /// `-i`.
    Ipip,
    /// `-g`.
    Gatewaying,
    /// `-w`.
    Weight,
    /// `-x`.
    UThreshold,
    /// `-y`.
    LThreshold,
    /// `-n`.
    Numeric,
    /// `-c`.
    Connection,
    /// `--mcast-interface`.
    McastInterface,
    /// `--syncid`.
    SyncId,
    /// `--timeout`.
    Timeout,
    /// `--daemon`.
    Daemon,
    /// `--stats`.
    Stats,
    /// `--rate`.
    Rate,
    /// `--thresholds`.
    Thresholds,
    /// `--persistent-conn`.
    PersistentConn,
    /// `--nosort`.
    NoSort,
    /// `--sort`.
    Sort,
    /// `--exact` / `-X`.
    Exact,
    /// `-6`.
    Ipv6,
    /// `-o`.
    Ops,
    /// `--pe`.
    Pe,
    /// `-b`.
    SchedFlags,
    /// `--mcast-group`.
    McastGroup,
    /// `--mcast-port`.
    McastPort,
    /// `--mcast-ttl`.
    McastTtl,
    /// `--sync-maxlen`.
    SyncMaxlen,
    /// `--tun-info`.
    TunInfo,
    /// `--tun-type`.
    TunType,
    /// `--tun-port`.
    TunPort,
    /// `--tun-nocsum`.
    TunNocsum,
    /// `--tun-csum`.
    TunCsum,
    /// `--tun-remcsum`.
    TunRemcsum,
}

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Required,
    Optional,
}

/// ipvsadm 1.31's `options_table`, in its order (popt takes the first
/// match, so `--list` is `-L`).
const TABLE: &[(&str, Option<char>, ArgKind, Opt)] = {
    use ArgKind::*;
    use Opt::*;
    &[
        ("add-service", Some('A'), None, AddService),
        ("edit-service", Some('E'), None, EditService),
        ("delete-service", Some('D'), None, DelService),
        ("clear", Some('C'), None, Clear),
        ("list", Some('L'), None, List),
        ("list", Some('l'), None, List),
        ("zero", Some('Z'), None, Zero),
        ("add-server", Some('a'), None, AddServer),
        ("edit-server", Some('e'), None, EditServer),
        ("delete-server", Some('d'), None, DelServer),
        ("set", Option::None, None, Set),
        ("help", Some('h'), None, Help),
        ("version", Some('v'), None, Version),
        ("restore", Some('R'), None, Restore),
        ("save", Some('S'), None, Save),
        ("start-daemon", Option::None, Required, StartDaemon),
        ("stop-daemon", Option::None, Required, StopDaemon),
        ("tcp-service", Some('t'), Required, TcpService),
        ("udp-service", Some('u'), Required, UdpService),
        ("sctp-service", Option::None, Required, SctpService),
        ("fwmark-service", Some('f'), Required, FwmarkService),
        ("scheduler", Some('s'), Required, Scheduler),
        ("persistent", Some('p'), Optional, Persistent),
        ("netmask", Some('M'), Required, Netmask),
        ("real-server", Some('r'), Required, RealServer),
        ("masquerading", Some('m'), None, Masquerading),
        ("ipip", Some('i'), None, Ipip),
        ("gatewaying", Some('g'), None, Gatewaying),
        ("weight", Some('w'), Required, Weight),
        ("u-threshold", Some('x'), Required, UThreshold),
        ("l-threshold", Some('y'), Required, LThreshold),
        ("numeric", Some('n'), None, Numeric),
        ("connection", Some('c'), None, Connection),
        ("mcast-interface", Option::None, Required, McastInterface),
        ("syncid", Option::None, Required, SyncId),
        ("timeout", Option::None, None, Timeout),
        ("daemon", Option::None, None, Daemon),
        ("stats", Option::None, None, Stats),
        ("rate", Option::None, None, Rate),
        ("thresholds", Option::None, None, Thresholds),
        ("persistent-conn", Option::None, None, PersistentConn),
        ("nosort", Option::None, None, NoSort),
        ("sort", Option::None, None, Sort),
        ("exact", Some('X'), None, Exact),
        ("ipv6", Some('6'), None, Ipv6),
        ("ops", Some('o'), None, Ops),
        ("pe", Option::None, Required, Pe),
        ("sched-flags", Some('b'), Required, SchedFlags),
        ("mcast-group", Option::None, Required, McastGroup),
        ("mcast-port", Option::None, Required, McastPort),
        ("mcast-ttl", Option::None, Required, McastTtl),
        ("sync-maxlen", Option::None, Required, SyncMaxlen),
        ("tun-info", Option::None, None, TunInfo),
        ("tun-type", Option::None, Required, TunType),
        ("tun-port", Option::None, Required, TunPort),
        ("tun-nocsum", Option::None, None, TunNocsum),
        ("tun-csum", Option::None, None, TunCsum),
        ("tun-remcsum", Option::None, None, TunRemcsum),
    ]
};

/// For each ASCII character, 1 + the index in `TABLE` of the first
/// option it names (0: none): a short option is one look-up, not a walk
/// of the table (a restore line has four of them). Built at compile time,
/// where an index out of range fails the build, not a run.
#[allow(clippy::indexing_slicing)]
const SHORT: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = TABLE.len();
    // Backwards, so the first entry of a letter wins, as in popt.
    while i > 0 {
        i -= 1;
        if let Some(c) = TABLE[i].1 {
            t[c as usize] = i as u8 + 1;
        }
    }
    t
};

/// The option a short letter names.
fn short(ch: char) -> Option<(&'static str, Option<char>, ArgKind, Opt)> {
    let i = *SHORT.get(ch as usize)?;
    TABLE.get(usize::from(i).checked_sub(1)?).copied()
}

/// popt's error codes that ipvsadm can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoptError {
    /// `POPT_ERROR_NOARG`.
    NoArg,
    /// `POPT_ERROR_BADOPT`.
    BadOpt,
    /// `POPT_ERROR_UNWANTEDARG`.
    UnwantedArg,
}

impl PoptError {
    /// `poptStrerror`.
    pub fn message(self) -> &'static str {
        match self {
            PoptError::NoArg => "missing argument",
            PoptError::BadOpt => "unknown option",
            PoptError::UnwantedArg => "option does not take an argument",
        }
    }
}

/// One option as popt returns it; the argument borrows from the argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Which option.
    pub opt: Opt,
    /// Its argument (None for flags, or `-p` without a value).
    pub arg: Option<&'a str>,
}

/// popt's context over one argv (element 0 is the program name). Every
/// option and argument it hands out is a slice of the argv: a restore of
/// 11,000 lines copies no token.
#[derive(Debug)]
pub struct Popt<'a, S: AsRef<str> = String> {
    argv: &'a [S],
    next: usize,
    /// Rest of a short-option cluster still to read (`n` of `-Ln`).
    cluster: Option<&'a str>,
    rest_leftover: bool,
    leftovers: Vec<&'a str>,
    next_leftover: usize,
}

impl<'a, S: AsRef<str>> Popt<'a, S> {
    /// Start parsing `argv` (skipping `argv[0]`).
    pub fn new(argv: &'a [S]) -> Popt<'a, S> {
        Popt {
            argv,
            next: 1,
            cluster: None,
            rest_leftover: false,
            leftovers: Vec::new(),
            next_leftover: 0,
        }
    }

    /// `poptBadOption(.., POPT_BADOPTION_NOALIAS)`: the argv element read last.
    pub fn bad_option(&self) -> String {
        self.next
            .checked_sub(1)
            .and_then(|i| self.argv.get(i))
            .map(|s| s.as_ref().to_string())
            .unwrap_or_default()
    }

    /// `poptGetArg`: the next leftover (non-option) argument.
    pub fn next_arg(&mut self) -> Option<String> {
        let r = self
            .leftovers
            .get(self.next_leftover)
            .map(|s| s.to_string());
        if r.is_some() {
            self.next_leftover += 1;
        }
        r
    }

    /// `poptGetNextOpt`: the next option, `Ok(None)` at the end.
    pub fn next_opt(&mut self) -> Result<Option<Parsed<'a>>, PoptError> {
        let argv: &'a [S] = self.argv;
        loop {
            let mut long_arg: Option<&'a str> = None;
            let def;
            if let Some(c) = self.cluster.take() {
                let mut chars = c.chars();
                let Some(ch) = chars.next() else {
                    continue;
                };
                let rest = chars.as_str();
                match short(ch) {
                    Some(d) => def = d,
                    None => return Err(PoptError::BadOpt),
                }
                if !rest.is_empty() {
                    self.cluster = Some(rest);
                }
            } else {
                let Some(s) = argv.get(self.next).map(AsRef::as_ref) else {
                    return Ok(None);
                };
                self.next += 1;
                if self.rest_leftover || !s.starts_with('-') || s == "-" {
                    self.leftovers.push(s);
                    continue;
                }
                if s == "--" {
                    self.rest_leftover = true;
                    continue;
                }
                if let [b'-', c] = *s.as_bytes() {
                    // `-x` alone (nearly every option of a restore line): the
                    // one-letter cluster, read without going round the loop.
                    match short(char::from(c)) {
                        Some(d) => def = d,
                        None => return Err(PoptError::BadOpt),
                    }
                } else if let Some(body) = s.strip_prefix("--") {
                    let (name, val) = match body.split_once('=') {
                        Some((n, v)) => (n, Some(v)),
                        None => (body, None),
                    };
                    match TABLE.iter().find(|d| d.0 == name) {
                        Some(d) => {
                            def = *d;
                            long_arg = val;
                        }
                        None => return Err(PoptError::BadOpt),
                    }
                } else {
                    // `-xyz`: no option of ipvsadm is one-dash long, so
                    // popt reads it as a cluster of short options.
                    self.cluster = Some(s.get(1..).unwrap_or_default());
                    continue;
                }
            }
            let (_, _, kind, opt) = def;
            if kind == ArgKind::None {
                let eq = self.cluster.is_some_and(|c| c.starts_with('='));
                if long_arg.is_some() || eq {
                    return Err(PoptError::UnwantedArg);
                }
                return Ok(Some(Parsed { opt, arg: None }));
            }
            let arg = if let Some(v) = long_arg {
                Some(v)
            } else if let Some(c) = self.cluster.take() {
                // The rest of a cluster is the argument (`-t1.2.3.4:80`,
                // `-t=1.2.3.4:80`).
                Some(c.strip_prefix('=').unwrap_or(c))
            } else {
                match argv.get(self.next).map(AsRef::as_ref) {
                    None => {
                        if kind != ArgKind::Optional {
                            return Err(PoptError::NoArg);
                        }
                        None
                    }
                    Some(n) if kind == ArgKind::Optional && n.starts_with('-') => None,
                    Some(n) => {
                        self.next += 1;
                        Some(n)
                    }
                }
            };
            return Ok(Some(Parsed { opt, arg }));
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `Parsed` with its argument owned, to outlive the argv.
    struct Owned {
        opt: Opt,
        arg: Option<String>,
    }

    fn all(args: &[&str]) -> (Vec<Owned>, Option<PoptError>, Vec<String>) {
        let argv: Vec<String> = std::iter::once("ipvsadm")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let mut p = Popt::new(&argv);
        let mut v = Vec::new();
        let err = loop {
            match p.next_opt() {
                Ok(Some(x)) => v.push(Owned {
                    opt: x.opt,
                    arg: x.arg.map(str::to_string),
                }),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let mut left = Vec::new();
        while let Some(a) = p.next_arg() {
            left.push(a);
        }
        (v, err, left)
    }

    #[test]
    fn every_short_letter_finds_the_first_entry() {
        for c in (0u8..=255).map(char::from).chain(['\u{e9}', '\u{2603}']) {
            assert_eq!(
                short(c),
                TABLE.iter().find(|d| d.1 == Some(c)).copied(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn clusters_and_attached_args() {
        let (v, e, _) = all(&["-Lnc"]);
        assert_eq!(e, None);
        let ops: Vec<Opt> = v.iter().map(|p| p.opt).collect();
        assert_eq!(ops, vec![Opt::List, Opt::Numeric, Opt::Connection]);
        let (v, _, _) = all(&["-At10.0.0.1:80", "--scheduler=rr"]);
        assert_eq!(v[1].arg.as_deref(), Some("10.0.0.1:80"));
        assert_eq!(v[2].arg.as_deref(), Some("rr"));
    }

    #[test]
    fn optional_persistence_timeout() {
        let (v, _, _) = all(&["-A", "-p", "-M", "200"]);
        assert_eq!(v[1].arg, None);
        let (v, _, _) = all(&["-A", "-p", "600"]);
        assert_eq!(v[1].arg.as_deref(), Some("600"));
        let (v, _, _) = all(&["-a", "-w", "-1"]);
        assert_eq!(v[1].arg.as_deref(), Some("-1"));
    }

    #[test]
    fn errors_and_leftovers() {
        assert_eq!(all(&["--foo"]).1, Some(PoptError::BadOpt));
        assert_eq!(all(&["-A", "-t"]).1, Some(PoptError::NoArg));
        assert_eq!(all(&["--list=x"]).1, Some(PoptError::UnwantedArg));
        assert_eq!(
            all(&["--set", "1", "2", "--", "-3"]).2,
            vec!["1", "2", "-3"]
        );
    }
}
