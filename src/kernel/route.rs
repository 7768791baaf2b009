//! Announced-VIP host routes over rtnetlink: one `/32` or `/128` unicast
//! route per VIP, `dev lo`, in a dedicated table with a dedicated
//! `rtm_protocol`, which a routing daemon learns (BIRD: `protocol kernel {
//! learn; kernel table N; }`, filtered on `krt_source`) and exports.
//!
//! Used by `daemon::anycast`. Adding a route that is there and deleting
//! one that is gone both succeed: the announcer retries and restarts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::RouteMessageBuilder;

use super::rtconn::ConnTask;

/// Why a route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Could not open the rtnetlink socket.
    #[error("rtnetlink socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The loopback interface is missing (no `lo` in this namespace).
    #[error("no loopback interface: {0}")]
    NoLoopback(String),
    /// The kernel refused.
    #[error("{op} route {addr} table {table}: {source}")]
    Netlink {
        /// "add", "del" or "list".
        op: &'static str,
        /// The VIP (unspecified for a listing).
        addr: IpAddr,
        /// The table.
        table: u32,
        /// rtnetlink's error (errno inside).
        source: Box<rtnetlink::Error>,
    },
}

/// Host routes of one (table, protocol) pair in the current namespace.
/// Clones share one connection task, which ends when the last clone is
/// dropped or [`Routes::close`]d.
#[derive(Clone)]
pub struct Routes {
    handle: rtnetlink::Handle,
    conn: std::sync::Arc<ConnTask>,
    table: u32,
    protocol: u8,
}

impl Routes {
    /// Open the socket; its connection task runs on the current tokio runtime.
    pub fn new(table: u32, protocol: u8) -> Result<Self, RouteError> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        Ok(Routes {
            handle,
            conn: std::sync::Arc::new(ConnTask::spawn(conn)),
            table,
            protocol,
        })
    }

    /// Close the socket: the connection task has ended when this returns
    /// (if this is the last clone; otherwise the last one ends it).
    pub async fn close(self) {
        drop(self.handle);
        if let Ok(c) = std::sync::Arc::try_unwrap(self.conn) {
            c.close().await;
        }
    }

    /// Whether the connection task still runs (tests of owners).
    pub fn conn_running(&self) -> super::addr::ConnProbe {
        super::addr::ConnProbe::new(self.conn.probe())
    }

    async fn lo(&self) -> Result<u32, RouteError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name("lo".to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(m)) => Ok(m.header.index),
            Ok(None) => Err(RouteError::NoLoopback("not found".into())),
            Err(e) => Err(RouteError::NoLoopback(e.to_string())),
        }
    }

    /// The route message for `addr`: unicast via `lo`, scope link (what
    /// `ip route add VIP dev lo table N proto P` makes, which BIRD's kernel
    /// protocol learns and exports).
    fn message(&self, addr: IpAddr, lo: u32) -> RouteMessage {
        let plen = if addr.is_ipv4() { 32 } else { 128 };
        let mut m = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(addr, plen)
            // Cannot fail: plen matches the family.
            .unwrap_or_else(|_| RouteMessageBuilder::<IpAddr>::new())
            .table_id(self.table)
            .protocol(RouteProtocol::from(self.protocol))
            .scope(RouteScope::Link)
            .kind(RouteType::Unicast)
            .output_interface(lo)
            .build();
        m.header.destination_prefix_length = plen;
        m
    }

    /// Install the host route for `addr`; Ok(false) if it was there.
    pub async fn add(&self, addr: IpAddr) -> Result<bool, RouteError> {
        let lo = self.lo().await?;
        let msg = self.message(addr, lo);
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if super::rtnl_errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(self.fail("add", addr, e)),
        }
    }

    /// Remove the host route for `addr`; Ok(false) if it was not there.
    pub async fn del(&self, addr: IpAddr) -> Result<bool, RouteError> {
        let lo = self.lo().await?;
        let msg = self.message(addr, lo);
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    super::rtnl_errno(&e),
                    Some(libc::ESRCH) | Some(libc::ENOENT)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail("del", addr, e)),
        }
    }

    /// Every host route of our protocol in our table (both families).
    pub async fn list(&self) -> Result<Vec<IpAddr>, RouteError> {
        let mut out = Vec::new();
        let dumps = [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ];
        for q in dumps {
            let mut s = self.handle.route().get(q).execute();
            loop {
                let m = match s.try_next().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(e) => return Err(self.fail("list", IpAddr::V4(Ipv4Addr::UNSPECIFIED), e)),
                };
                if let Some(a) = self.ours(&m) {
                    out.push(a);
                }
            }
        }
        Ok(out)
    }

    /// The destination of `m` when it is one of our host routes.
    fn ours(&self, m: &RouteMessage) -> Option<IpAddr> {
        let table = m
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(u32::from(m.header.table));
        if table != self.table || u8::from(m.header.protocol) != self.protocol {
            return None;
        }
        let dst = m.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
            RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
            _ => None,
        })?;
        let host = if dst.is_ipv4() { 32 } else { 128 };
        (m.header.destination_prefix_length == host).then_some(dst)
    }

    /// Remove every host route of ours (a crashed predecessor's leftovers).
    pub async fn flush(&self) -> Result<Vec<IpAddr>, RouteError> {
        let mut gone = Vec::new();
        for a in self.list().await? {
            if self.del(a).await? {
                gone.push(a);
            }
        }
        Ok(gone)
    }

    fn fail(&self, op: &'static str, addr: IpAddr, e: rtnetlink::Error) -> RouteError {
        RouteError::Netlink {
            op,
            addr,
            table: self.table,
            source: Box::new(e),
        }
    }
}

#[cfg(test)]
mod conn_tests {
    use super::*;

    /// Issue 13: `close` returns after the connection task ended.
    #[tokio::test]
    async fn close_ends_the_connection_task() {
        let r = Routes::new(100, 100).unwrap();
        let p = r.conn_running();
        assert!(p.running());
        r.close().await;
        assert!(!p.running(), "rtnetlink connection task left running");
    }
}
