//! `lvsadm`: ipvsadm 1.31's grammar, listings, messages and exit codes.
//! May use: `model`, `kernel`. Must not: keep state between runs, print
//! anything ipvsadm would not print.

pub mod args;
pub mod command;
pub mod conn;
pub mod error;
pub mod list;
pub mod names;
pub mod parse;
pub mod restore;
pub mod run;
pub mod save;
pub mod sort;

use std::io::Write;

use crate::kernel::{Ipvs, NetlinkIpvs};
use crate::model::VersionInfo;

pub use run::Session;

/// ipvsadm's `modprobe_ipvs`: `/sbin/modprobe -- ip_vs`, output shared.
fn modprobe_ipvs() -> bool {
    std::process::Command::new("/sbin/modprobe")
        .args(["--", "ip_vs"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Open the kernel's IPVS and read its info, as ipvsadm's `ipvs_init`.
fn init() -> Result<(NetlinkIpvs, VersionInfo), crate::kernel::Error> {
    let ipvs = NetlinkIpvs::new()?;
    let info = ipvs.info()?;
    Ok((ipvs, info))
}

/// Open `/dev/null` on any of fds 0-2 that is closed, as Rust's own
/// start-up does (the `lvsadm` binary skips it): otherwise the netlink
/// socket could become "stdout" and a listing would be written into it.
fn keep_standard_fds_open() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only reads the descriptor's flags; open returns
        // the lowest free descriptor, which is `fd` when it was closed
        // and the ones below it are open, and stays open on purpose.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// Run `lvsadm` with `argv` on the real kernel, stdin, stdout and stderr;
/// returns the exit status (ipvsadm's).
pub fn run(argv: &[String]) -> i32 {
    keep_standard_fds_open();
    let (ipvs, info) = match init() {
        Ok(x) => x,
        Err(_) => {
            let retry = if modprobe_ipvs() {
                init()
            } else {
                Err(crate::kernel::Error::NoFamily)
            };
            match retry {
                Ok(x) => x,
                Err(e) => {
                    let msg = error::ipvs_strerror(None, error::errno_of(&e));
                    eprintln!(
                        "Can't initialize ipvs: {msg}\nAre you sure that IP Virtual Server is built in the kernel or as module?"
                    );
                    return 2;
                }
            }
        }
    };
    // ipvsadm warns about kernels older than IPVS 1.1.4.
    if info.version < 0x010104 {
        let v = info.version;
        eprint!(
            "Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version {}.{}.{}\n  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n",
            (v >> 16) & 0xff,
            (v >> 8) & 0xff,
            v & 0xff
        );
    }
    let res = names::SystemResolver;
    let mut session = Session::new(&ipvs, info, &res);
    let code = session.main(argv, &mut std::io::stdin().lock());
    // A closed pipe while listing is not an error worth reporting.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(session.stdout.as_bytes());
    let _ = out.flush();
    let _ = std::io::stderr().write_all(session.stderr.as_bytes());
    code
}
