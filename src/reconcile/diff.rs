//! Diff a desired table against the kernel's table into the fewest kernel
//! changes, in an order that never leaves a virtual without a server when
//! it does not have to.
//!
//! The plan is a list of the crate's [`Operation`]s (only service and
//! real adds, edits and deletes: `-A/-E/-D/-a/-e/-d`), what the kernel
//! layer sends as it is.
//!
//! Pure: the daemon reads the kernel table, calls [`diff`], and hands the
//! result to [`super::apply`]. Services the predicate `owned` rejects are
//! never looked at, so tables written by other tools survive.

use std::collections::{HashMap, HashSet};

use crate::kernel::Operation;
use crate::model::{Forward, RealServer, ServiceFlags, ServiceKey, Table, VirtualService};

use super::desired::Desired;

/// Compute the changes that turn `actual` into `desired`.
///
/// `owned` says which kernel services belong to lvsd: an owned service
/// absent from `desired` is deleted (a virtual dropped from the config on
/// reload); any other service is left alone. Every desired service counts
/// as owned.
///
/// Order: service adds and edits, then real adds and edits, then real
/// deletes, then service deletes. Adding before deleting means a fallback
/// server is in place before the last real leaves, and a returning real is
/// in place before the fallback leaves.
pub fn diff(
    desired: &Desired,
    actual: &Table,
    owned: &dyn Fn(&ServiceKey) -> bool,
) -> Vec<Operation> {
    let mut svc_ops = Vec::new();
    let mut real_ops = Vec::new();
    let mut primes = Vec::new();
    let mut del_reals = Vec::new();
    let mut del_svcs = Vec::new();
    let wanted: HashSet<ServiceKey> = desired
        .table
        .entries
        .iter()
        .map(|e| e.service.key)
        .collect();

    // Indexed: `Table::get` is a scan, and a start diffs 1000s of services.
    let by_key: HashMap<ServiceKey, &crate::model::TableEntry> =
        actual.entries.iter().map(|e| (e.service.key, e)).collect();
    for want in &desired.table.entries {
        let key = want.service.key;
        let have = by_key.get(&key).copied();
        match have {
            None => svc_ops.push(Operation::AddService(want.service.clone())),
            Some(h) if !same_service(&want.service, &h.service) => {
                svc_ops.push(Operation::EditService(want.service.clone()))
            }
            Some(_) => {}
        }
        let have_reals: &[RealServer] = have.map(|h| h.reals.as_slice()).unwrap_or(&[]);
        let first_add = real_ops.len();
        for r in &want.reals {
            match have_reals
                .iter()
                .find(|h| h.addr == r.addr && h.port == r.port)
            {
                Some(h) if same_real(r, h) => {}
                Some(_) => real_ops.push(Operation::EditDest(key, r.clone())),
                None if desired.only_if_present.contains(&(key, r.addr, r.port)) => {}
                None => match desired.prime_weight.get(&(key, r.addr, r.port)) {
                    Some(w) if r.weight == 0 => {
                        let mut primed = r.clone();
                        primed.weight = *w;
                        real_ops.push(Operation::AddDest(key, primed));
                        primes.push(Operation::EditDest(key, r.clone()));
                    }
                    _ => real_ops.push(Operation::AddDest(key, r.clone())),
                },
            }
        }
        if want.service.scheduler == MH {
            canonical_adds(&mut real_ops[first_add..]);
        }
        for h in have_reals {
            if !want
                .reals
                .iter()
                .any(|r| r.addr == h.addr && r.port == h.port)
            {
                del_reals.push(Operation::DelDest(key, h.addr, h.port));
            }
        }
    }
    for have in &actual.entries {
        let key = have.service.key;
        if !wanted.contains(&key) && owned(&key) {
            del_svcs.push(Operation::DelService(key));
        }
    }
    svc_ops.extend(real_ops);
    // Right after the adds, in the same batch: quiesce the primed reals.
    svc_ops.extend(primes);
    svc_ops.extend(del_reals);
    svc_ops.extend(del_svcs);
    svc_ops
}

/// The Maglev scheduler, whose table depends on the order of the reals.
const MH: &str = "mh";

/// Put one service's real adds (edits stay where they are) in the
/// canonical order: descending (address, port). The kernel inserts each new
/// real at the head of the service's list and fills the mh table walking
/// that list, so adding in descending order leaves the list ascending, the
/// same on every director whatever the order of the config lines.
fn canonical_adds(ops: &mut [Operation]) {
    let mut adds: Vec<Operation> = ops
        .iter()
        .filter(|c| matches!(c, Operation::AddDest(..)))
        .cloned()
        .collect();
    adds.sort_by(|a, b| match (a, b) {
        (Operation::AddDest(_, x), Operation::AddDest(_, y)) => {
            (y.addr, y.port).cmp(&(x.addr, x.port))
        }
        _ => std::cmp::Ordering::Equal,
    });
    let mut adds = adds.into_iter();
    for op in ops.iter_mut() {
        if matches!(op, Operation::AddDest(..)) {
            if let Some(a) = adds.next() {
                *op = a;
            }
        }
    }
}

/// Whether two services agree on everything `-E` can change.
fn same_service(want: &VirtualService, have: &VirtualService) -> bool {
    // HASHED is the kernel's bookkeeping bit, never set by a client.
    let mask = !ServiceFlags::HASHED;
    if want.scheduler != have.scheduler
        || want.flags.0 & mask != have.flags.0 & mask
        || want.pe_name.as_deref().unwrap_or("") != have.pe_name.as_deref().unwrap_or("")
    {
        return false;
    }
    // Timeout and netmask only mean something for a persistent service.
    !want.persistent() || (want.timeout == have.timeout && want.netmask == have.netmask)
}

/// Whether two real servers agree on everything `-e` can change.
fn same_real(want: &RealServer, have: &RealServer) -> bool {
    // The kernel reports a real on a local address as `Local` whatever
    // method was asked for, so `Local` matches any wanted method.
    let fwd_ok = have.forward == want.forward || have.forward == Forward::Local;
    let tun_ok = want.forward != Forward::Tunnel
        || (want.tun_type == have.tun_type
            && want.tun_port == have.tun_port
            && want.tun_flags == have.tun_flags);
    fwd_ok
        && tun_ok
        && want.weight == have.weight
        && want.u_threshold == have.u_threshold
        && want.l_threshold == have.l_threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Stats, TableEntry};
    use crate::reconcile::desired::{desired, RealKey, RealState, VirtualSpec};

    fn key(last: u8) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: format!("10.0.0.{last}").parse().unwrap(),
            port: 80,
        }
    }

    fn real(a: &str, w: i32) -> RealServer {
        let mut r = RealServer::new(a.parse().unwrap(), 80);
        r.forward = Forward::Masq;
        r.weight = w;
        r
    }

    fn svc(k: ServiceKey, sched: &str) -> VirtualService {
        let mut s = VirtualService::new(k);
        s.scheduler = sched.into();
        s
    }

    fn table(entries: Vec<(VirtualService, Vec<RealServer>)>) -> Table {
        Table {
            entries: entries
                .into_iter()
                .map(|(service, reals)| TableEntry { service, reals })
                .collect(),
        }
    }

    fn plain(t: Table) -> Desired {
        Desired {
            table: t,
            only_if_present: Default::default(),
            prime_weight: Default::default(),
        }
    }

    fn all(_: &ServiceKey) -> bool {
        true
    }

    #[test]
    fn identical_tables_need_nothing() {
        let t = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        assert!(diff(&plain(t.clone()), &t, &all).is_empty());
    }

    #[test]
    fn kernel_counters_and_hashed_flag_do_not_cause_changes() {
        let want = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        let mut have = want.clone();
        have.entries[0].service.flags.0 |= ServiceFlags::HASHED;
        have.entries[0].service.stats = Stats {
            conns: 5,
            ..Default::default()
        };
        have.entries[0].reals[0].active_conns = 3;
        have.entries[0].reals[0].stats.inbytes = 99;
        assert!(diff(&plain(want), &have, &all).is_empty());
    }

    #[test]
    fn empty_kernel_gets_service_then_reals() {
        let t = table(vec![(
            svc(key(1), "rr"),
            vec![real("10.1.0.1", 1), real("10.1.0.2", 2)],
        )]);
        let ops = diff(&plain(t), &Table::default(), &all);
        assert_eq!(
            ops,
            vec![
                Operation::AddService(svc(key(1), "rr")),
                Operation::AddDest(key(1), real("10.1.0.1", 1)),
                Operation::AddDest(key(1), real("10.1.0.2", 2)),
            ]
        );
    }

    #[test]
    fn weight_change_is_one_edit_not_delete_and_add() {
        let have = table(vec![(
            svc(key(1), "wrr"),
            vec![real("10.1.0.1", 1), real("10.1.0.2", 1)],
        )]);
        let want = table(vec![(
            svc(key(1), "wrr"),
            vec![real("10.1.0.1", 1), real("10.1.0.2", 5)],
        )]);
        assert_eq!(
            diff(&plain(want), &have, &all),
            vec![Operation::EditDest(key(1), real("10.1.0.2", 5))]
        );
    }

    #[test]
    fn scheduler_change_is_one_service_edit() {
        let have = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        let want = table(vec![(svc(key(1), "rr"), vec![real("10.1.0.1", 1)])]);
        assert_eq!(
            diff(&plain(want), &have, &all),
            vec![Operation::EditService(svc(key(1), "rr"))]
        );
    }

    #[test]
    fn persistence_timeout_matters_only_when_persistent() {
        let mut a = svc(key(1), "wrr");
        a.timeout = 300;
        let b = svc(key(1), "wrr");
        let have = table(vec![(b.clone(), vec![])]);
        assert!(diff(&plain(table(vec![(a.clone(), vec![])])), &have, &all).is_empty());
        a.flags.0 |= ServiceFlags::PERSISTENT;
        assert_eq!(
            diff(&plain(table(vec![(a.clone(), vec![])])), &have, &all),
            vec![Operation::EditService(a)]
        );
    }

    #[test]
    fn unowned_services_are_never_touched() {
        let foreign = (svc(key(9), "lc"), vec![real("10.9.0.1", 1)]);
        let have = table(vec![foreign.clone(), (svc(key(1), "wrr"), vec![])]);
        let want = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        let owned = |k: &ServiceKey| *k == key(1);
        assert_eq!(
            diff(&plain(want), &have, &owned),
            vec![Operation::AddDest(key(1), real("10.1.0.1", 1))]
        );
    }

    #[test]
    fn owned_service_dropped_from_config_is_deleted_last() {
        let have = table(vec![
            (svc(key(1), "wrr"), vec![real("10.1.0.1", 1)]),
            (svc(key(2), "wrr"), vec![real("10.2.0.1", 1)]),
        ]);
        let want = table(vec![(
            svc(key(1), "wrr"),
            vec![real("10.1.0.1", 1), real("10.1.0.3", 1)],
        )]);
        assert_eq!(
            diff(&plain(want), &have, &all),
            vec![
                Operation::AddDest(key(1), real("10.1.0.3", 1)),
                Operation::DelService(key(2)),
            ]
        );
    }

    #[test]
    fn stray_real_in_owned_service_is_purged() {
        let have = table(vec![(
            svc(key(1), "wrr"),
            vec![real("10.1.0.1", 1), real("10.1.0.7", 1)],
        )]);
        let want = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        assert_eq!(
            diff(&plain(want), &have, &all),
            vec![Operation::DelDest(key(1), "10.1.0.7".parse().unwrap(), 80)]
        );
    }

    #[test]
    fn local_forward_reported_by_kernel_matches() {
        let mut have_r = real("10.1.0.1", 1);
        have_r.forward = Forward::Local;
        let have = table(vec![(svc(key(1), "wrr"), vec![have_r])]);
        let want = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        assert!(diff(&plain(want), &have, &all).is_empty());
    }

    #[test]
    fn forwarding_change_is_an_edit() {
        let have = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 1)])]);
        let mut r = real("10.1.0.1", 1);
        r.forward = Forward::Tunnel;
        let want = table(vec![(svc(key(1), "wrr"), vec![r.clone()])]);
        assert_eq!(
            diff(&plain(want), &have, &all),
            vec![Operation::EditDest(key(1), r)]
        );
    }

    /// The whole path: health flips drive desired, diff gives the minimal plan.
    fn spec(quiescent: bool) -> VirtualSpec {
        let mut fb = real("127.0.0.1", 1);
        fb.forward = Forward::Route;
        VirtualSpec {
            service: svc(key(1), "wrr"),
            reals: vec![real("10.1.0.1", 3), real("10.1.0.2", 2)],
            fallback: Some(fb),
            quiescent,
            consistent: false,
        }
    }

    fn plan(spec: &VirtualSpec, down: &[&str], have: &Table, readd: bool) -> Vec<Operation> {
        let down: Vec<String> = down.iter().map(|s| s.to_string()).collect();
        let st = move |k: &RealKey| {
            if down.contains(&k.addr.to_string()) {
                RealState::Down
            } else {
                RealState::Up
            }
        };
        diff(
            &desired(std::slice::from_ref(spec), &st, &|_| readd),
            have,
            &all,
        )
    }

    fn apply_all(t: &mut Table, ops: &[Operation]) {
        for op in ops {
            match op {
                Operation::AddService(s) => t.entries.push(TableEntry {
                    service: s.clone(),
                    reals: vec![],
                }),
                Operation::EditService(s) => {
                    let e = t
                        .entries
                        .iter_mut()
                        .find(|e| e.service.key == s.key)
                        .unwrap();
                    e.service = s.clone();
                }
                Operation::DelService(k) => t.entries.retain(|e| e.service.key != *k),
                Operation::AddDest(k, r) => t
                    .entries
                    .iter_mut()
                    .find(|e| e.service.key == *k)
                    .unwrap()
                    .reals
                    .push(r.clone()),
                Operation::EditDest(k, r) => {
                    let e = t.entries.iter_mut().find(|e| e.service.key == *k).unwrap();
                    *e.reals
                        .iter_mut()
                        .find(|x| x.addr == r.addr && x.port == r.port)
                        .unwrap() = r.clone();
                }
                Operation::DelDest(k, a, p) => t
                    .entries
                    .iter_mut()
                    .find(|e| e.service.key == *k)
                    .unwrap()
                    .reals
                    .retain(|x| !(x.addr == *a && x.port == *p)),
                other => panic!("diff never plans {other:?}"),
            }
        }
    }

    #[test]
    fn quiescent_failure_then_recovery_is_one_edit_each() {
        let s = spec(true);
        let mut t = Table::default();
        let ops = plan(&s, &[], &t, true);
        apply_all(&mut t, &ops);
        let ops = plan(&s, &["10.1.0.1"], &t, true);
        let mut q = real("10.1.0.1", 0);
        q.weight = 0;
        assert_eq!(ops, vec![Operation::EditDest(key(1), q)]);
        apply_all(&mut t, &ops);
        let ops = plan(&s, &[], &t, true);
        assert_eq!(ops, vec![Operation::EditDest(key(1), real("10.1.0.1", 3))]);
    }

    #[test]
    fn fallback_added_before_last_real_leaves_and_removed_after_return() {
        let s = spec(false);
        let mut t = Table::default();
        let ops = plan(&s, &["10.1.0.2"], &t, true);
        apply_all(&mut t, &ops);
        let ops = plan(&s, &["10.1.0.1", "10.1.0.2"], &t, true);
        let mut fb = real("127.0.0.1", 1);
        fb.forward = Forward::Route;
        assert_eq!(
            ops,
            vec![
                Operation::AddDest(key(1), fb.clone()),
                Operation::DelDest(key(1), "10.1.0.1".parse().unwrap(), 80),
            ]
        );
        apply_all(&mut t, &ops);
        let ops = plan(&s, &["10.1.0.1"], &t, true);
        assert_eq!(
            ops,
            vec![
                Operation::AddDest(key(1), real("10.1.0.2", 2)),
                Operation::DelDest(key(1), fb.addr, fb.port),
            ]
        );
        apply_all(&mut t, &ops);
        assert!(plan(&s, &["10.1.0.1"], &t, true).is_empty());
    }

    #[test]
    fn quiesced_real_deleted_by_hand_is_not_readded_without_readd() {
        let s = spec(true);
        let t = table(vec![(svc(key(1), "wrr"), vec![real("10.1.0.1", 3)])]);
        // 10.1.0.2 is down and absent: readdquiescent=no leaves it out.
        assert!(plan(&s, &["10.1.0.2"], &t, false).is_empty());
        let mut q = real("10.1.0.2", 0);
        q.weight = 0;
        assert_eq!(
            plan(&s, &["10.1.0.2"], &t, true),
            vec![Operation::AddDest(key(1), q)]
        );
    }
}
