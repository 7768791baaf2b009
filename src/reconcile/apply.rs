//! Send a plan of [`Operation`]s to the kernel in one batch and report
//! what happened. A failed change is reported, not retried here: the next
//! reconcile diffs against the kernel again and tries what is still missing.

use crate::kernel::{Error, Ipvs, Operation};

/// Outcome of applying a plan.
#[derive(Debug, Default)]
pub struct Applied {
    /// Operations the kernel accepted.
    pub done: Vec<Operation>,
    /// Operations the kernel refused, with its error.
    pub failed: Vec<(Operation, Error)>,
}

/// Apply `changes` in order as one batch.
pub fn apply(ipvs: &dyn Ipvs, changes: Vec<Operation>) -> Applied {
    let mut out = Applied::default();
    if changes.is_empty() {
        return out;
    }
    let results = ipvs.apply(&changes);
    let mut results = results.into_iter();
    for c in changes {
        match results.next() {
            Some(Ok(())) => out.done.push(c),
            Some(Err(e)) => out.failed.push((c, e)),
            // A short result list means the batch broke off; the rest is
            // unknown, so count it as failed and let the next pass re-diff.
            None => {
                let op = c.cmd();
                out.failed.push((
                    c,
                    Error::Decode {
                        op,
                        reason: "no result from the kernel".into(),
                    },
                ))
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::FakeTable;
    use crate::model::{Forward, Protocol, RealServer, ServiceKey, VirtualService};

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn a_plan_is_one_batch_and_failures_are_reported_per_change() {
        let fake = FakeTable::new();
        let mut svc = VirtualService::new(key());
        svc.scheduler = "rr".into();
        let mut r = RealServer::new("10.1.0.1".parse().unwrap(), 80);
        r.forward = Forward::Masq;
        let plan = vec![
            Operation::AddService(svc.clone()),
            Operation::AddDest(key(), r.clone()),
            // Duplicate: the kernel answers EEXIST.
            Operation::AddDest(key(), r.clone()),
        ];
        let res = apply(&fake, plan);
        assert_eq!(fake.batches(), 1);
        assert_eq!(res.done.len(), 2);
        assert_eq!(res.failed.len(), 1);
        assert!(matches!(
            res.failed[0].1,
            Error::Kernel { errno, .. } if errno == libc::EEXIST
        ));
        let t = fake.snapshot();
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.entries[0].reals.len(), 1);
    }
}
