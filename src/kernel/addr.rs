//! Virtual IP addresses over rtnetlink: add, delete, look up interfaces.
//!
//! Used by `ha::takeover`. Adding an address that is already there and
//! deleting one that is gone both succeed (takeover and release are
//! retried and must be idempotent).

use std::net::IpAddr;
use std::sync::Arc;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::LinkAttribute;

use super::rtconn::ConnTask;
use crate::model::Vip;

/// Why an address operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    /// Could not open the rtnetlink socket.
    #[error("rtnetlink socket: {0}")]
    Socket(#[from] std::io::Error),
    /// No interface of that name.
    #[error("{0}: no such interface")]
    NoSuchInterface(String),
    /// The kernel refused.
    #[error("{op} {addr}/{prefix} on {ifname}: {source}")]
    Netlink {
        /// "add" or "del".
        op: &'static str,
        /// The address.
        addr: IpAddr,
        /// Its prefix.
        prefix: u8,
        /// The interface.
        ifname: String,
        /// rtnetlink's error (errno inside).
        source: Box<rtnetlink::Error>,
    },
    /// A lookup failed.
    #[error("rtnetlink lookup: {0}")]
    Lookup(Box<rtnetlink::Error>),
}

/// Tells whether an rtnetlink connection task has ended.
#[derive(Debug, Clone)]
pub struct ConnProbe(Option<tokio::task::AbortHandle>);

impl ConnProbe {
    pub(crate) fn new(h: Option<tokio::task::AbortHandle>) -> Self {
        ConnProbe(h)
    }

    /// True while the task has not ended.
    pub fn running(&self) -> bool {
        self.0.as_ref().is_some_and(|h| !h.is_finished())
    }
}

/// An interface's index and Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// ifindex.
    pub index: u32,
    /// MAC, when the link has a 6-byte hardware address.
    pub mac: Option<[u8; 6]>,
}

/// A handle on the rtnetlink socket of the current network namespace.
/// Clones share one connection task, which ends when the last clone is
/// dropped or [`Addrs::close`]d.
#[derive(Clone)]
pub struct Addrs {
    handle: rtnetlink::Handle,
    conn: Arc<ConnTask>,
}

impl Addrs {
    /// Open the socket; its connection task runs on the current tokio runtime.
    pub fn new() -> Result<Self, AddrError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        Ok(Addrs {
            handle,
            conn: Arc::new(ConnTask::spawn(conn)),
        })
    }

    /// Close the socket: the connection task has ended when this returns
    /// (if this is the last clone; otherwise the last one ends it).
    pub async fn close(self) {
        drop(self.handle);
        if let Ok(c) = Arc::try_unwrap(self.conn) {
            c.close().await;
        }
    }

    /// Whether the connection task still runs (tests of owners).
    pub fn conn_running(&self) -> ConnProbe {
        ConnProbe(self.conn.probe())
    }

    /// Look up an interface by name.
    pub async fn link(&self, name: &str) -> Result<LinkInfo, AddrError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let msg = match links.try_next().await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(AddrError::NoSuchInterface(name.into())),
            Err(e) if super::rtnl_errno(&e) == Some(libc::ENODEV) => {
                return Err(AddrError::NoSuchInterface(name.into()))
            }
            Err(e) => return Err(AddrError::Lookup(Box::new(e))),
        };
        let mac = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(b) => <[u8; 6]>::try_from(b.as_slice()).ok(),
            _ => None,
        });
        Ok(LinkInfo {
            index: msg.header.index,
            mac,
        })
    }

    /// Add `vip`; Ok(false) if it was already there.
    pub async fn add(&self, vip: &Vip) -> Result<bool, AddrError> {
        let link = self.link(&vip.interface).await?;
        let mut req = self
            .handle
            .address()
            .add(link.index, vip.address, vip.prefix);
        let msg = req.message_mut();
        if let Some(label) = &vip.label {
            msg.attributes.push(AddressAttribute::Label(label.clone()));
        }
        if vip.address.is_ipv6() {
            // A VIP moving between directors must not wait for (or fail)
            // duplicate address detection; keepalived sets nodad too.
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if super::rtnl_errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(source) => Err(self.fail("add", vip, source)),
        }
    }

    /// Whether `vip` is configured on its interface.
    pub async fn has(&self, vip: &Vip) -> Result<bool, AddrError> {
        let link = self.link(&vip.interface).await?;
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .set_address_filter(vip.address)
            .set_prefix_length_filter(vip.prefix)
            .execute();
        Ok(found
            .try_next()
            .await
            .map_err(|e| AddrError::Lookup(Box::new(e)))?
            .is_some())
    }

    /// Delete `vip`; Ok(false) if it was not there.
    pub async fn del(&self, vip: &Vip) -> Result<bool, AddrError> {
        let link = self.link(&vip.interface).await?;
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .set_address_filter(vip.address)
            .set_prefix_length_filter(vip.prefix)
            .execute()
            .try_collect()
            .await
            .map_err(|e| AddrError::Lookup(Box::new(e)))?;
        let mut deleted = false;
        for m in msgs {
            match self.handle.address().del(m).execute().await {
                Ok(()) => deleted = true,
                Err(e) if super::rtnl_errno(&e) == Some(libc::EADDRNOTAVAIL) => {}
                Err(source) => return Err(self.fail("del", vip, source)),
            }
        }
        Ok(deleted)
    }

    fn fail(&self, op: &'static str, vip: &Vip, source: rtnetlink::Error) -> AddrError {
        AddrError::Netlink {
            op,
            addr: vip.address,
            prefix: vip.prefix,
            ifname: vip.interface.clone(),
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod conn_tests {
    use super::*;

    /// Issue 13: the connection task was spawned detached and ended only
    /// when the runtime noticed its handle was gone; now `close` returns
    /// after it ended. (Opening a NETLINK_ROUTE socket needs no privilege.)
    #[tokio::test]
    async fn close_ends_the_connection_task() {
        let a = Addrs::new().unwrap();
        let b = a.clone();
        let p = a.conn_running();
        assert!(p.running());
        // A clone still open keeps the connection.
        a.close().await;
        assert!(p.running());
        b.close().await;
        assert!(!p.running(), "rtnetlink connection task left running");
    }
}
