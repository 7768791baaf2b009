//! The vocabulary of requests: [`IpvsCmd`] (the family's command numbers,
//! kept in every error) and [`Operation`] (one change to the table, with
//! its data), which [`crate::Client::apply`] sends in batches.

use std::fmt;
use std::net::IpAddr;

use crate::{Daemon, DaemonState, Destination, Service, ServiceKey, Timeouts};

/// An IPVS generic netlink command (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    /// `IPVS_CMD_NEW_SERVICE` (1); also the command of service replies.
    NewService,
    /// `IPVS_CMD_SET_SERVICE` (2).
    SetService,
    /// `IPVS_CMD_DEL_SERVICE` (3).
    DelService,
    /// `IPVS_CMD_GET_SERVICE` (4).
    GetService,
    /// `IPVS_CMD_NEW_DEST` (5); also the command of destination replies.
    NewDest,
    /// `IPVS_CMD_SET_DEST` (6).
    SetDest,
    /// `IPVS_CMD_DEL_DEST` (7).
    DelDest,
    /// `IPVS_CMD_GET_DEST` (8).
    GetDest,
    /// `IPVS_CMD_NEW_DAEMON` (9); also the command of daemon replies.
    NewDaemon,
    /// `IPVS_CMD_DEL_DAEMON` (10).
    DelDaemon,
    /// `IPVS_CMD_GET_DAEMON` (11).
    GetDaemon,
    /// `IPVS_CMD_SET_CONFIG` (12); also the command of the timeouts reply.
    SetConfig,
    /// `IPVS_CMD_GET_CONFIG` (13).
    GetConfig,
    /// `IPVS_CMD_SET_INFO` (14): only the command of the info reply.
    SetInfo,
    /// `IPVS_CMD_GET_INFO` (15).
    GetInfo,
    /// `IPVS_CMD_ZERO` (16).
    Zero,
    /// `IPVS_CMD_FLUSH` (17).
    Flush,
    /// A command number this program does not know.
    Other(u8),
}

impl IpvsCmd {
    /// The command number.
    pub fn number(self) -> u8 {
        use IpvsCmd::*;
        match self {
            NewService => 1,
            SetService => 2,
            DelService => 3,
            GetService => 4,
            NewDest => 5,
            SetDest => 6,
            DelDest => 7,
            GetDest => 8,
            NewDaemon => 9,
            DelDaemon => 10,
            GetDaemon => 11,
            SetConfig => 12,
            GetConfig => 13,
            SetInfo => 14,
            GetInfo => 15,
            Zero => 16,
            Flush => 17,
            Other(n) => n,
        }
    }

    /// From a command number (unknown numbers are kept).
    pub fn from_number(n: u8) -> IpvsCmd {
        use IpvsCmd::*;
        match n {
            1 => NewService,
            2 => SetService,
            3 => DelService,
            4 => GetService,
            5 => NewDest,
            6 => SetDest,
            7 => DelDest,
            8 => GetDest,
            9 => NewDaemon,
            10 => DelDaemon,
            11 => GetDaemon,
            12 => SetConfig,
            13 => GetConfig,
            14 => SetInfo,
            15 => GetInfo,
            16 => Zero,
            17 => Flush,
            n => Other(n),
        }
    }

    /// Whether the message's top-level attributes are `IPVS_INFO_ATTR_*`
    /// (they reuse numbers 1 and 2 of `IPVS_CMD_ATTR_*`).
    pub(crate) fn carries_info(self) -> bool {
        matches!(self, IpvsCmd::SetInfo | IpvsCmd::GetInfo)
    }
}

impl fmt::Display for IpvsCmd {
    /// What the command does, in words ("add service"): for error texts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            IpvsCmd::NewService => "add service",
            IpvsCmd::SetService => "edit service",
            IpvsCmd::DelService => "delete service",
            IpvsCmd::GetService => "get service",
            IpvsCmd::NewDest => "add destination",
            IpvsCmd::SetDest => "edit destination",
            IpvsCmd::DelDest => "delete destination",
            IpvsCmd::GetDest => "get destinations",
            IpvsCmd::NewDaemon => "start daemon",
            IpvsCmd::DelDaemon => "stop daemon",
            IpvsCmd::GetDaemon => "get daemons",
            IpvsCmd::SetConfig => "set timeouts",
            IpvsCmd::GetConfig => "get timeouts",
            IpvsCmd::SetInfo => "set info",
            IpvsCmd::GetInfo => "get info",
            IpvsCmd::Zero => "zero",
            IpvsCmd::Flush => "flush",
            IpvsCmd::Other(n) => return write!(f, "IPVS command {n}"),
        };
        f.write_str(s)
    }
}

/// One change to the IPVS table: one IPVS generic netlink request, named
/// after the `ipvsadm` command that sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `IPVS_CMD_NEW_SERVICE` (`ipvsadm -A`).
    AddService(Service),
    /// `IPVS_CMD_SET_SERVICE` (`ipvsadm -E`).
    EditService(Service),
    /// `IPVS_CMD_DEL_SERVICE` (`ipvsadm -D`).
    DelService(ServiceKey),
    /// `IPVS_CMD_FLUSH` (`ipvsadm -C`).
    Flush,
    /// `IPVS_CMD_NEW_DEST` (`ipvsadm -a`).
    AddDest(ServiceKey, Destination),
    /// `IPVS_CMD_SET_DEST` (`ipvsadm -e`).
    EditDest(ServiceKey, Destination),
    /// `IPVS_CMD_DEL_DEST` (`ipvsadm -d`): service, real address and port;
    /// the destination's family is the address's. The other fields go out
    /// with ipvsadm's defaults, as ipvsadm sends them.
    DelDest(ServiceKey, IpAddr, u16),
    /// `IPVS_CMD_ZERO` (`ipvsadm -Z [service]`); `None` zeroes everything.
    Zero(Option<ServiceKey>),
    /// `IPVS_CMD_SET_CONFIG` (`ipvsadm --set`; 0 leaves a value unchanged).
    SetTimeouts(Timeouts),
    /// `IPVS_CMD_NEW_DAEMON` (`ipvsadm --start-daemon`).
    StartDaemon(Daemon),
    /// `IPVS_CMD_DEL_DAEMON` (`ipvsadm --stop-daemon`).
    StopDaemon(DaemonState),
}

impl Operation {
    /// The IPVS command this operation is sent as (kept in its errors).
    pub fn cmd(&self) -> IpvsCmd {
        match self {
            Operation::AddService(_) => IpvsCmd::NewService,
            Operation::EditService(_) => IpvsCmd::SetService,
            Operation::DelService(_) => IpvsCmd::DelService,
            Operation::Flush => IpvsCmd::Flush,
            Operation::AddDest(..) => IpvsCmd::NewDest,
            Operation::EditDest(..) => IpvsCmd::SetDest,
            Operation::DelDest(..) => IpvsCmd::DelDest,
            Operation::Zero(_) => IpvsCmd::Zero,
            Operation::SetTimeouts(_) => IpvsCmd::SetConfig,
            Operation::StartDaemon(_) => IpvsCmd::NewDaemon,
            Operation::StopDaemon(_) => IpvsCmd::DelDaemon,
        }
    }

    /// The virtual service the operation is about, if it names one.
    pub fn service(&self) -> Option<ServiceKey> {
        match self {
            Operation::AddService(s) | Operation::EditService(s) => Some(s.key),
            Operation::DelService(k)
            | Operation::AddDest(k, _)
            | Operation::EditDest(k, _)
            | Operation::DelDest(k, ..) => Some(*k),
            Operation::Zero(k) => *k,
            Operation::Flush
            | Operation::SetTimeouts(_)
            | Operation::StartDaemon(_)
            | Operation::StopDaemon(_) => None,
        }
    }
}
