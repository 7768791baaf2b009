//! ipvsadm's listing order: libipvs's comparators run through glibc's
//! merge sort, overflow quirks included.
//!
//! Called by `cli::list` and `cli::save`. Pure; no I/O.
//!
//! libipvs 1.31 compares addresses with `int r = ntohl(a) - ntohl(b)`, so
//! the order is not a total order (200.0.0.1 sorts before 1.0.0.1, fwmark
//! 4000000000 before 1). The result therefore depends on the exact merge
//! sequence of glibc's `qsort` (`msort_with_tmp`), which this module
//! reproduces step by step.

use std::net::IpAddr;

use crate::model::{Family, RealServer, ServiceKey, VirtualService};

/// Sort `items` as glibc's `qsort` does with comparator `cmp` (top-down
/// merge sort; the left run wins ties and `cmp <= 0`).
pub fn glibc_msort<T: Clone>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    if items.len() <= 1 {
        return;
    }
    // One scratch buffer for every merge (glibc's `tmp`), not one per merge.
    let mut tmp: Vec<T> = Vec::with_capacity(items.len());
    msort_with_tmp(items, &mut tmp, cmp);
}

/// glibc's `msort_with_tmp`: sort both halves, merge through `tmp`.
fn msort_with_tmp<T: Clone>(items: &mut [T], tmp: &mut Vec<T>, cmp: &dyn Fn(&T, &T) -> i32) {
    if items.len() <= 1 {
        return;
    }
    let n1 = items.len() / 2;
    let (left, right) = items.split_at_mut(n1);
    msort_with_tmp(left, tmp, cmp);
    msort_with_tmp(right, tmp, cmp);
    tmp.clear();
    let (mut i, mut j) = (0, 0);
    while let (Some(a), Some(b)) = (left.get(i), right.get(j)) {
        if cmp(a, b) <= 0 {
            tmp.push(a.clone());
            i += 1;
        } else {
            tmp.push(b.clone());
            j += 1;
        }
    }
    tmp.extend_from_slice(left.get(i..).unwrap_or_default());
    tmp.extend_from_slice(right.get(j..).unwrap_or_default());
    items.clone_from_slice(tmp);
}

/// An address as libipvs's `union nf_inet_addr`, in host-order words:
/// IPv4 fills word 0 and leaves the rest zero.
pub fn addr_words(addr: &IpAddr) -> [u32; 4] {
    match addr {
        IpAddr::V4(a) => [u32::from(*a), 0, 0, 0],
        IpAddr::V6(a) => {
            let s = a.segments();
            let w = |i: usize| (u32::from(s[2 * i]) << 16) | u32::from(s[2 * i + 1]);
            [w(0), w(1), w(2), w(3)]
        }
    }
}

/// `ntohl(a) - ntohl(b)` on `union nf_inet_addr`, judged by `v6` (the
/// family of the left operand, as libipvs does).
fn cmp_addr(v6: bool, a: &[u32; 4], b: &[u32; 4]) -> i32 {
    if v6 {
        let mut r = 0i32;
        for i in 0..4 {
            if r != 0 {
                break;
            }
            r = a[i].wrapping_sub(b[i]) as i32;
        }
        r
    } else {
        a[0].wrapping_sub(b[0]) as i32
    }
}

/// The fields of `ipvs_service_entry_t` that `ipvs_cmp_services` reads.
struct SvcSortKey {
    fwmark: u32,
    af: u16,
    protocol: u16,
    addr: [u32; 4],
    port: u16,
}

fn svc_sort_key(s: &VirtualService) -> SvcSortKey {
    match s.key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => SvcSortKey {
            fwmark: 0,
            af: Family::of(&addr).af(),
            protocol: protocol.number(),
            addr: addr_words(&addr),
            port,
        },
        // The kernel reports neither protocol nor address for fwmark services.
        ServiceKey::Fwmark { family, mark } => SvcSortKey {
            fwmark: mark,
            af: family.af(),
            protocol: 0,
            addr: [0; 4],
            port: 0,
        },
    }
}

/// libipvs's `ipvs_cmp_services`.
pub fn cmp_services(a: &VirtualService, b: &VirtualService) -> i32 {
    let (ka, kb) = (svc_sort_key(a), svc_sort_key(b));
    let r = ka.fwmark.wrapping_sub(kb.fwmark) as i32;
    if r != 0 {
        return r;
    }
    let r = i32::from(ka.af) - i32::from(kb.af);
    if r != 0 {
        return r;
    }
    let r = i32::from(ka.protocol) - i32::from(kb.protocol);
    if r != 0 {
        return r;
    }
    let r = cmp_addr(ka.af == Family::V6.af(), &ka.addr, &kb.addr);
    if r != 0 {
        return r;
    }
    i32::from(ka.port) - i32::from(kb.port)
}

/// libipvs's `ipvs_cmp_dests` (the left operand's family decides).
pub fn cmp_dests(a: &RealServer, b: &RealServer) -> i32 {
    let r = cmp_addr(
        a.family() == Family::V6,
        &addr_words(&a.addr),
        &addr_words(&b.addr),
    );
    if r != 0 {
        return r;
    }
    i32::from(a.port) - i32::from(b.port)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn msort_is_stable_and_sorts() {
        let mut v = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        glibc_msort(&mut v, &|x, y| x.0 - y.0);
        assert_eq!(v, vec![(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
    }

    /// The merge sort as it was before the shared scratch buffer (one
    /// `Vec` per merge): the reference for the one in use.
    fn msort_alloc_per_merge<T: Clone>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
        if items.len() <= 1 {
            return;
        }
        let n1 = items.len() / 2;
        let (left, right) = items.split_at_mut(n1);
        msort_alloc_per_merge(left, cmp);
        msort_alloc_per_merge(right, cmp);
        let mut merged: Vec<T> = Vec::with_capacity(left.len() + right.len());
        let (mut i, mut j) = (0, 0);
        while i < left.len() && j < right.len() {
            if cmp(&left[i], &right[j]) <= 0 {
                merged.push(left[i].clone());
                i += 1;
            } else {
                merged.push(right[j].clone());
                j += 1;
            }
        }
        merged.extend_from_slice(&left[i..]);
        merged.extend_from_slice(&right[j..]);
        items.clone_from_slice(&merged);
    }

    #[test]
    fn scratch_buffer_sort_orders_like_the_old_one_even_without_a_total_order() {
        // libipvs's overflowing address compare is not transitive, so the
        // result depends on the exact merge sequence: both must match.
        let mut x: u32 = 2463534242;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let cmp = |a: &(u32, u32), b: &(u32, u32)| a.0.wrapping_sub(b.0) as i32;
        for n in [0usize, 1, 2, 3, 7, 64, 1000, 1001] {
            let v: Vec<(u32, u32)> = (0..n as u32).map(|i| (rnd(), i)).collect();
            let (mut a, mut b) = (v.clone(), v);
            glibc_msort(&mut a, &cmp);
            msort_alloc_per_merge(&mut b, &cmp);
            assert_eq!(a, b, "n={n}");
        }
    }

    #[test]
    fn v4_overflow_compares_like_libipvs() {
        let a = addr_words(&"200.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])));
        let b = addr_words(&"1.0.0.1".parse().unwrap_or(IpAddr::from([0; 4])));
        assert!(cmp_addr(false, &a, &b) < 0);
    }
}
