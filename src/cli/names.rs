//! Host and service names, resolved the way ipvsadm 1.31 does it
//! (`gethostbyaddr`, `getservbyport`, `gethostbyname`, `getservbyname`),
//! behind a trait so listings can be tested without the system resolver.
//!
//! Called by `cli::list`, `cli::save`, `cli::conn` and `cli::command`.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Name look-ups used by listings and argument parsing.
pub trait Resolver {
    /// Host name of an address (`gethostbyaddr`), if any.
    fn host_name(&self, addr: &IpAddr) -> Option<String>;
    /// Service name of a port for `IPPROTO_*` `proto` (`getservbyport`).
    fn service_name(&self, port: u16, proto: u16) -> Option<String>;
    /// IPv4 address of a host name (`gethostbyname`, IPv4 answers only).
    fn host_addr(&self, name: &str) -> Option<Ipv4Addr>;
    /// Port of a service name for `IPPROTO_*` `proto` (`getservbyname`).
    fn service_port(&self, name: &str, proto: u16) -> Option<u16>;
}

/// The system's resolver (NSS: /etc/hosts, DNS, /etc/services).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

/// The protocol names libc's services database knows, as ipvsadm picks them.
fn proto_name(proto: u16) -> Option<&'static CStr> {
    match proto {
        6 => Some(c"tcp"),
        17 => Some(c"udp"),
        132 => Some(c"sctp"),
        _ => None,
    }
}

// The unsafe below is libc's resolver (getnameinfo, getaddrinfo,
// getservby*): neither nix nor socket2 wraps those, and ipvsadm's output
// depends on exactly libc's answers (nsswitch, /etc/services).
impl Resolver for SystemResolver {
    fn host_name(&self, addr: &IpAddr) -> Option<String> {
        let sa = socket2::SockAddr::from(SocketAddr::new(*addr, 0));
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: sa is a valid sockaddr of len sa.len(); host is a writable
        // buffer of the given length; no service buffer is requested.
        let rc = unsafe {
            libc::getnameinfo(
                sa.as_ptr().cast(),
                sa.len(),
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: getnameinfo NUL-terminates on success.
        let s = unsafe { CStr::from_ptr(host.as_ptr()) };
        Some(s.to_string_lossy().into_owned())
    }

    fn service_name(&self, port: u16, proto: u16) -> Option<String> {
        let p = proto_name(proto)?;
        // SAFETY: p is NUL-terminated; the result points into libc's static
        // storage, copied out before any other call.
        unsafe {
            let se = libc::getservbyport(i32::from(port.to_be()), p.as_ptr());
            if se.is_null() || (*se).s_name.is_null() {
                return None;
            }
            Some(CStr::from_ptr((*se).s_name).to_string_lossy().into_owned())
        }
    }

    fn host_addr(&self, name: &str) -> Option<Ipv4Addr> {
        let c = CString::new(name).ok()?;
        // SAFETY: zeroed addrinfo is a valid hints value.
        let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
        hints.ai_family = libc::AF_INET;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated name, hints and out pointer.
        let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
        if rc != 0 || res.is_null() {
            return None;
        }
        let mut out = None;
        // SAFETY: res is a list returned by getaddrinfo, freed once below.
        unsafe {
            let ai = &*res;
            if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() {
                let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
                out = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            libc::freeaddrinfo(res);
        }
        out
    }

    fn service_port(&self, name: &str, proto: u16) -> Option<u16> {
        let p = proto_name(proto)?;
        let c = CString::new(name).ok()?;
        // SAFETY: both strings NUL-terminated; result read immediately.
        unsafe {
            let se = libc::getservbyname(c.as_ptr(), p.as_ptr());
            if se.is_null() {
                return None;
            }
            Some(u16::from_be((*se).s_port as u16))
        }
    }
}

/// A resolver that knows no names: what `-n` amounts to.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoResolver;

impl Resolver for NoResolver {
    fn host_name(&self, _: &IpAddr) -> Option<String> {
        None
    }
    fn service_name(&self, _: u16, _: u16) -> Option<String> {
        None
    }
    fn host_addr(&self, _: &str) -> Option<Ipv4Addr> {
        None
    }
    fn service_port(&self, _: &str, _: u16) -> Option<u16> {
        None
    }
}

/// ipvsadm's `addrport_to_anyname`: `addr:port`, IPv6 in brackets, names
/// unless `numeric`; cut to 59 bytes as its 60-byte buffer does.
pub fn addrport(addr: &IpAddr, port: u16, proto: u16, numeric: bool, res: &dyn Resolver) -> String {
    let (open, close) = match addr {
        IpAddr::V4(_) => ("", ""),
        IpAddr::V6(_) => ("[", "]"),
    };
    let s = if numeric {
        format!("{open}{addr}{close}:{port}")
    } else {
        let host = res.host_name(addr).unwrap_or_else(|| addr.to_string());
        let serv = res
            .service_name(port, proto)
            .unwrap_or_else(|| port.to_string());
        format!("{open}{host}{close}:{serv}")
    };
    truncate_bytes(s, 59)
}

/// Cut a string to at most `n` bytes, as C's fixed buffers do.
pub fn truncate_bytes(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut cut = n;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
