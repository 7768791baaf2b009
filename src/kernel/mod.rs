//! The only code that changes kernel state: IPVS over generic netlink,
//! addresses over rtnetlink, gratuitous ARP / unsolicited NA, sync daemons.
//! May use: `wire`, `model`.

pub mod addr;
pub mod announce;
