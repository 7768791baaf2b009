//! What to check and where. The check itself is `model::CheckSpec` (built
//! by `config`, every default and inheritance already applied); this module
//! adds the target (real and virtual addresses) and engine-side helpers.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use crate::model::{CheckSpec, CheckType, Family, HttpMethod, Protocol, Service};

/// A spec with ldirectord's per-virtual defaults (negotiate, service none,
/// request "/", checktimeout 5 s, negotiatetimeout 30 s, interval 10 s):
/// a base for tests, benchmarks and hand-built checks.
pub fn base() -> CheckSpec {
    CheckSpec::defaults()
}

/// Reject what cannot be checked at all (today: `service=oracle`, for
/// which no pure-Rust client exists, and a `receive` the regex engine
/// cannot compile).
pub fn validate(spec: &CheckSpec) -> Result<(), String> {
    let negotiates = matches!(
        spec.checktype,
        CheckType::Negotiate | CheckType::Combined(_)
    );
    if negotiates && spec.service == Service::Oracle {
        return Err(
            "service=oracle is not supported by lvsd: no pure-Rust Oracle client \
             exists; use checktype=connect or an external checkcommand"
                .into(),
        );
    }
    if negotiates {
        if let Err(e) = super::negotiate::compile_cached(&spec.receive) {
            return Err(format!("receive is not a valid regular expression: {e}"));
        }
    }
    Ok(())
}

/// Where a check goes, and the virtual service it is done for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Real server address.
    pub real: IpAddr,
    /// Real server port as configured (0 for firewall-mark services).
    pub real_port: u16,
    /// Virtual address, or the firewall mark as a number (external checks' 1st argument).
    pub virtual_host: String,
    /// Virtual port (external checks' 2nd argument).
    pub virtual_port: u16,
}

impl Target {
    /// Port the check connects to (ldirectord's `ld_checkport`).
    pub fn check_port(&self, spec: &CheckSpec) -> u16 {
        spec.port_for(self.real_port).unwrap_or(0)
    }

    /// Socket address the check connects to.
    pub fn check_addr(&self, spec: &CheckSpec) -> SocketAddr {
        SocketAddr::new(self.real, self.check_port(spec))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::model::host_port(self.real, self.real_port))
    }
}
