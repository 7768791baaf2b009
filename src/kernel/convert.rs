//! What is left between lvsd's kernel layer and the `ipvs-netlink`
//! crate: lvsd's `Op` and errors. The values themselves (services, reals,
//! daemons) are the crate's types, re-exported by `model`.

use ipvs_netlink as nl;

use super::{Error, Op, OpKind};

/// A crate error as lvsd's, for the op the caller was doing. The caller
/// knows the op exactly (the crate names commands, lvsd names ops), so
/// the crate's command is not mapped back; only the errors that come
/// before any command (socket set-up) become lvsd's `Resolve`.
pub(super) fn error(e: nl::Error, op: OpKind) -> Error {
    match e {
        nl::Error::Kernel { errno, .. } => Error::Kernel { op, errno },
        nl::Error::NoFamily => Error::NoFamily,
        nl::Error::Socket { source } => Error::Io {
            op: OpKind::Resolve,
            source,
        },
        nl::Error::Io { source, .. } => Error::Io { op, source },
        nl::Error::Decode { reason, .. } => Error::Decode { op, reason },
    }
}

/// One op as the crate's operation: the same IPVS request.
pub(super) fn op_to(op: &Op) -> nl::Operation {
    match op {
        Op::AddService(s) => nl::Operation::AddService(s.clone()),
        Op::EditService(s) => nl::Operation::EditService(s.clone()),
        Op::DelService(k) => nl::Operation::DelService(*k),
        Op::Flush => nl::Operation::Flush,
        Op::AddDest(k, r) => nl::Operation::AddDest(*k, r.clone()),
        Op::EditDest(k, r) => nl::Operation::EditDest(*k, r.clone()),
        Op::DelDest(k, a, p) => nl::Operation::DelDest(*k, *a, *p),
        Op::Zero(k) => nl::Operation::Zero(*k),
        Op::SetTimeouts(t) => nl::Operation::SetTimeouts(*t),
        Op::StartDaemon(d) => nl::Operation::StartDaemon(d.clone()),
        Op::StopDaemon(s) => nl::Operation::StopDaemon(*s),
    }
}
