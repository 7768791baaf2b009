//! A whole IPVS table: services with their real servers.

use super::RealServer;
use super::{ServiceKey, VirtualService};

/// One virtual service and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// The service.
    pub service: VirtualService,
    /// Its real servers, in kernel (or config) order.
    pub reals: Vec<RealServer>,
}

/// An IPVS table, desired or read back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Services in order.
    pub entries: Vec<TableEntry>,
}

impl Table {
    /// The entry of a service, if present.
    pub fn get(&self, key: &ServiceKey) -> Option<&TableEntry> {
        self.entries.iter().find(|e| e.service.key == *key)
    }
}
