use super::*;
use crate::kernel::Operation;
use crate::model::maglev::{MhDest, MhTable};
use crate::model::{Forward, Protocol, RealServer, ServiceFlags, Table, TableEntry};
use crate::reconcile::{desired, diff, RealKey, RealState, VirtualSpec};
use proptest::prelude::*;

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: "10.0.0.1".parse().unwrap(),
        port: 80,
    }
}

fn mh_service() -> VirtualService {
    let mut s = VirtualService::new(key());
    s.scheduler = "mh".into();
    s.flags = ServiceFlags(FLAG_FALLBACK | FLAG_PORT);
    s
}

/// The kernel's view of one service: the destination list in list order,
/// with `last_weight`, changed the way ip_vs_ctl.c changes it.
#[derive(Default)]
struct KernelModel {
    service: Option<VirtualService>,
    list: Vec<(RealServer, i32)>,
}

impl KernelModel {
    fn table(&self) -> Table {
        Table {
            entries: self
                .service
                .iter()
                .map(|s| TableEntry {
                    service: s.clone(),
                    reals: self.list.iter().map(|(r, _)| r.clone()).collect(),
                })
                .collect(),
        }
    }

    fn apply(&mut self, changes: Vec<Operation>) {
        for c in changes {
            match c {
                Operation::AddService(s) | Operation::EditService(s) => self.service = Some(s),
                Operation::DelService(_) => *self = KernelModel::default(),
                // list_add_rcu: a new destination goes to the head.
                Operation::AddDest(_, r) => {
                    let w = r.weight;
                    self.list.insert(0, (r, w));
                }
                Operation::EditDest(_, r) => {
                    if let Some(e) = self
                        .list
                        .iter_mut()
                        .find(|(h, _)| h.addr == r.addr && h.port == r.port)
                    {
                        // last_weight keeps the latest non-zero weight.
                        if r.weight != 0 {
                            e.1 = r.weight;
                        }
                        e.0 = r;
                    }
                }
                Operation::DelDest(_, a, p) => {
                    self.list.retain(|(h, _)| !(h.addr == a && h.port == p))
                }
                other => panic!("diff never plans {other:?}"),
            }
        }
    }

    fn mh(&self) -> MhTable {
        let flags = self.service.as_ref().map(mh_flags).unwrap_or(0);
        let dests = self
            .list
            .iter()
            .map(|(r, lw)| MhDest {
                addr: r.addr,
                port: r.port,
                weight: r.weight,
                last_weight: *lw,
            })
            .collect();
        MhTable::build(dests, flags).unwrap()
    }
}

fn reals(n: usize, weights: &[i32]) -> Vec<RealServer> {
    (0..n)
        .map(|i| {
            let mut r = RealServer::new(format!("10.1.0.{}", 10 + i).parse().unwrap(), 8080);
            r.forward = Forward::Masq;
            r.weight = weights[i % weights.len()];
            r
        })
        .collect()
}

/// Run one director: start with `states[0]`, then each later health step,
/// then everything up; return its final kernel model.
fn director(config: Vec<RealServer>, steps: &[Vec<u8>]) -> KernelModel {
    director_with(config, steps, true)
}

fn director_with(config: Vec<RealServer>, steps: &[Vec<u8>], finish_up: bool) -> KernelModel {
    let spec = VirtualSpec {
        service: mh_service(),
        reals: config,
        fallback: None,
        quiescent: false,
        consistent: true,
    };
    let mut k = KernelModel::default();
    let all_up: Vec<u8> = vec![0; spec.reals.len()];
    let last = finish_up.then_some(&all_up);
    for step in steps.iter().chain(last) {
        let state = |rk: &RealKey| {
            let i = spec.reals.iter().position(|r| r.addr == rk.addr).unwrap();
            match step.get(i).copied().unwrap_or(0) % 3 {
                0 => RealState::Up,
                1 => RealState::Down,
                _ => RealState::Unknown,
            }
        };
        let d = desired(std::slice::from_ref(&spec), &state, &|_| false);
        let plan = diff(&d, &k.table(), &|_| true);
        assert!(
            !plan.iter().any(|c| matches!(c, Operation::DelDest(..))),
            "a consistent virtual deleted a real: {plan:?}"
        );
        k.apply(plan);
    }
    k
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Directors with the same reals build identical mh tables whatever the
    /// order of their config lines and whatever health history each saw.
    #[test]
    fn same_reals_give_the_same_table_on_every_director(
        n in 1usize..7,
        weights in proptest::collection::vec(1i32..6, 1..4),
        order_a in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        order_b in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        hist_a in proptest::collection::vec(proptest::collection::vec(0u8..3, 6), 0..6),
        hist_b in proptest::collection::vec(proptest::collection::vec(0u8..3, 6), 0..6),
    ) {
        let base = reals(n, &weights);
        let shuffle = |seed: u64| {
            let mut v = base.clone();
            // A deterministic permutation from the seed (Fisher-Yates).
            let mut s = seed | 1;
            for i in (1..v.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                v.swap(i, (s % (i as u64 + 1)) as usize);
            }
            v
        };
        let a = director(shuffle(order_a), &hist_a);
        let b = director(shuffle(order_b), &hist_b);
        // The list is ascending (canonical) on both.
        let addrs: Vec<_> = a.list.iter().map(|(r, _)| r.addr).collect();
        let mut sorted = addrs.clone();
        sorted.sort();
        prop_assert_eq!(&addrs, &sorted);
        let (ta, tb) = (a.mh(), b.mh());
        prop_assert_eq!(ta.fingerprint(), tb.fingerprint());
        prop_assert!(ta == tb);
    }
}

#[test]
fn a_real_down_since_start_holds_the_same_slots_as_on_a_director_that_saw_it_up() {
    let base = reals(4, &[2, 3]);
    let up = director_with(base.clone(), &[vec![0, 0, 0, 0]], false);
    let down = director_with(base, &[vec![2, 0, 0, 0], vec![1, 0, 0, 0]], false);
    assert_eq!(down.list[0].0.weight, 0, "real 0 should be quiesced");
    let (tu, td) = (up.mh(), down.mh());
    for i in 0..crate::model::maglev::TABLE_SIZE as usize {
        let (a, b) = (tu.slot(i).unwrap(), td.slot(i).unwrap());
        assert_eq!((a.addr, a.port), (b.addr, b.port), "slot {i}");
    }
    // Only availability differs: the quiesced real's flows fall back.
    assert_ne!(tu.fingerprint(), td.fingerprint());
}

#[test]
fn without_canonical_adds_config_order_changes_the_table() {
    // The property above can fail: two orders of the same reals added as
    // they come (what any scheduler other than mh gets) differ.
    let base = reals(4, &[1, 2]);
    let mut rev = base.clone();
    rev.reverse();
    let build = |rs: &[RealServer]| {
        let mut k = KernelModel {
            service: Some(mh_service()),
            list: Vec::new(),
        };
        k.apply(
            rs.iter()
                .map(|r| Operation::AddDest(key(), r.clone()))
                .collect(),
        );
        k.mh().fingerprint()
    };
    assert_ne!(build(&base), build(&rev));
}

#[test]
fn require_mh_names_the_scheduler_and_the_missing_flag() {
    let mut s = mh_service();
    assert_eq!(require_mh(&s), Ok(()));
    s.flags = ServiceFlags(FLAG_PORT);
    let e = require_mh(&s).unwrap_err();
    assert!(e.to_string().contains("mh-fallback"), "{e}");
    s.scheduler = "wlc".into();
    let e = require_mh(&s).unwrap_err();
    assert!(e.to_string().contains("scheduler wlc"), "{e}");
    assert!(e.to_string().contains("needs scheduler mh"), "{e}");
}

#[test]
fn consistent_virtual_quiesces_where_ldirectord_would_delete() {
    let spec = |consistent| VirtualSpec {
        service: mh_service(),
        reals: reals(2, &[3]),
        fallback: None,
        quiescent: false,
        consistent,
    };
    let down = |_: &RealKey| RealState::Down;
    let d = desired(&[spec(false)], &down, &|_| false);
    assert!(d.table.entries[0].reals.is_empty());
    let d = desired(&[spec(true)], &down, &|_| false);
    assert_eq!(d.table.entries[0].reals.len(), 2);
    assert!(d.table.entries[0].reals.iter().all(|r| r.weight == 0));
    assert!(d.only_if_present.is_empty());
    assert_eq!(d.prime_weight.len(), 2);
    // Added at the configured weight, then quiesced in the same plan.
    let plan = diff(&d, &Table::default(), &|_| true);
    let kinds: Vec<_> = plan
        .iter()
        .map(|c| match c {
            Operation::AddService(_) => "A".to_string(),
            Operation::AddDest(_, r) => format!("a{}", r.weight),
            Operation::EditDest(_, r) => format!("e{}", r.weight),
            _ => "?".to_string(),
        })
        .collect();
    assert_eq!(kinds, ["A", "a3", "a3", "e0", "e0"]);
}
