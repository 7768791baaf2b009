//! Words about this host and its peers shared by every module: how an
//! address and port are written, and this machine's host name.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

/// `10.0.0.1:80`, `[2001:db8::1]:80`: an address and port as logs, events,
/// the status page and the `lvsd` verbs write them (IPv6 in brackets, so
/// the port stays unambiguous).
pub fn host_port(addr: IpAddr, port: u16) -> String {
    // SocketAddr's Display is exactly this form (no scope or flow info
    // here: SocketAddr::new leaves both zero).
    SocketAddr::new(addr, port).to_string()
}

/// This machine's host name (`/proc/sys/kernel/hostname`, trimmed), read
/// once per process and cached; None when it cannot be read. Callers pick
/// their own fallback (mail and hooks say `localhost`, ldirectord's
/// defaults take `$HOSTNAME` first). The one read of the file in the model:
/// the name does not change under a running daemon in any way lvsd
/// follows, and reading it per check or per mail put file I/O on the
/// async runtime's hot paths.
pub fn hostname() -> Option<&'static str> {
    static NAME: OnceLock<Option<String>> = OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string())
    })
    .as_deref()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6_only() {
        assert_eq!(host_port("10.0.0.1".parse().unwrap(), 80), "10.0.0.1:80");
        assert_eq!(
            host_port("2001:db8::1".parse().unwrap(), 8080),
            "[2001:db8::1]:8080"
        );
        assert_eq!(
            host_port("::ffff:10.0.0.1".parse().unwrap(), 0),
            "[::ffff:10.0.0.1]:0"
        );
    }

    #[test]
    fn hostname_is_the_kernels_and_stable() {
        let want = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_string());
        assert_eq!(hostname().map(str::to_string), want);
        // Cached: the same allocation both times.
        assert!(std::ptr::eq(hostname().unwrap_or(""), hostname().unwrap_or("")) || want.is_none());
    }
}
