//! Health of a real server and HA role: the values that cross between the
//! check engine, the HA state machine and the reconciler.

/// Result of health checking one real server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Passing its checks.
    Up,
    /// Failing; the reason says why, for logs and `lvsd status`.
    Down(String),
}

impl Health {
    /// Whether the server may receive traffic.
    pub fn is_up(&self) -> bool {
        matches!(self, Health::Up)
    }
}

/// Whether this director serves the virtual IPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Waiting for the peer (initdead) before deciding.
    Init,
    /// The peer serves; this node keeps its table ready and syncs as backup.
    Standby,
    /// This node owns the virtual IPs.
    Active,
}
