//! Virtual IP addresses over rtnetlink: add, delete, look up interfaces.
//!
//! Used by `ha::takeover`. Adding an address that is already there and
//! deleting one that is gone both succeed (takeover and release are
//! retried and must be idempotent).

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::LinkAttribute;

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

/// An interface's index and Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// ifindex.
    pub index: u32,
    /// MAC, when the link has a 6-byte hardware address.
    pub mac: Option<[u8; 6]>,
}

/// A handle on the rtnetlink socket of the current network namespace.
#[derive(Clone)]
pub struct Addrs {
    handle: rtnetlink::Handle,
}

impl Addrs {
    /// Open the socket; its connection task runs on the current tokio runtime.
    pub fn new() -> Result<Self, AddrError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Addrs { handle })
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
