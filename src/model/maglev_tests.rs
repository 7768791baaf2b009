use super::*;
use std::net::SocketAddr;
use std::path::Path;

#[test]
fn siphash_2_4_matches_the_reference_vector() {
    // SipHash paper, appendix A: key 00..0f, message 00..0e.
    let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
    let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
    let msg: Vec<u8> = (0u8..15).collect();
    assert_eq!(siphash(k0, k1, &msg, 2, 4), 0xa129_ca61_49be_45e5);
}

fn dest(a: &str, w: i32) -> MhDest {
    MhDest {
        addr: a.parse().unwrap(),
        port: 80,
        weight: w,
        last_weight: w,
    }
}

#[test]
fn weights_decide_the_share_of_slots() {
    let t = MhTable::build(vec![dest("10.0.0.1", 1), dest("10.0.0.2", 3)], 0).unwrap();
    let a = (0..TABLE_SIZE as usize)
        .filter(|i| t.slot(*i).unwrap().addr.to_string() == "10.0.0.1")
        .count();
    // 1:3 round robin over 4093 slots: exactly one slot in four, rounded.
    assert!((1022..=1024).contains(&a), "{a}");
}

#[test]
fn zero_weights_and_no_dests_give_an_empty_table() {
    let t = MhTable::build(vec![dest("10.0.0.1", 0)], FLAG_FALLBACK).unwrap();
    assert!(t.slot(0).is_none());
    assert!(t.lookup(&"1.2.3.4".parse().unwrap(), 1).is_none());
    let t = MhTable::build(vec![], 0).unwrap();
    assert!(t.lookup(&"1.2.3.4".parse().unwrap(), 1).is_none());
}

#[test]
fn quiesced_real_keeps_its_slots_and_fallback_moves_only_its_flows() {
    let mut ds = vec![
        dest("10.0.0.1", 1),
        dest("10.0.0.2", 1),
        dest("10.0.0.3", 1),
    ];
    let before = MhTable::build(ds.clone(), FLAG_FALLBACK).unwrap();
    ds[1].weight = 0;
    let after = MhTable::build(ds.clone(), FLAG_FALLBACK).unwrap();
    let nofb = MhTable::build(ds, 0).unwrap();
    for i in 0..500u32 {
        let c = IpAddr::from(std::net::Ipv4Addr::from(0x0a08_0000 + i));
        let b = before.lookup(&c, 0).unwrap();
        let a = after.lookup(&c, 0).unwrap();
        assert_ne!(a.addr.to_string(), "10.0.0.2");
        if b.addr.to_string() != "10.0.0.2" {
            assert_eq!(a, b, "a flow not on the quiesced real moved");
            assert_eq!(nofb.lookup(&c, 0), Some(b));
        } else {
            assert!(nofb.lookup(&c, 0).is_none());
        }
    }
    assert_ne!(before.fingerprint(), after.fingerprint());
}

#[test]
fn too_many_dests_is_a_typed_error() {
    let ds: Vec<MhDest> = (0..TABLE_SIZE + 1)
        .map(|i| MhDest {
            addr: IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)),
            port: 1,
            weight: 1,
            last_weight: 1,
        })
        .collect();
    assert_eq!(
        MhTable::build(ds, 0),
        Err(MaglevError::TooManyDests(TABLE_SIZE as usize + 1))
    );
}

/// One fixture captured from a real kernel by tests/vm/52-mh-capture.sh.
struct Fixture {
    flags: u32,
    dests: Vec<MhDest>,
    flows: Vec<(SocketAddr, Option<SocketAddr>)>,
}

fn parse_fixture(text: &str) -> Fixture {
    let mut f = Fixture {
        flags: 0,
        dests: Vec::new(),
        flows: Vec::new(),
    };
    for line in text.lines() {
        let p: Vec<&str> = line.split_whitespace().collect();
        match p.first().copied() {
            Some("service") => {
                for flag in p[4].split(',') {
                    f.flags |= match flag {
                        "mh-fallback" => FLAG_FALLBACK,
                        "mh-port" => FLAG_PORT,
                        _ => 0,
                    };
                }
            }
            Some("dest") => {
                let sa: SocketAddr = p[1].parse().unwrap();
                f.dests.push(MhDest {
                    addr: sa.ip(),
                    port: sa.port(),
                    weight: p[2].parse().unwrap(),
                    last_weight: p[3].parse().unwrap(),
                });
            }
            Some("flow") => {
                let real = (p[2] != "none").then(|| p[2].parse().unwrap());
                f.flows.push((p[1].parse().unwrap(), real));
            }
            _ => {}
        }
    }
    f
}

#[test]
fn user_space_table_equals_the_kernels_on_every_captured_flow() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mh");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "fixtures missing in {}", dir.display());
    let mut checked = 0;
    for file in files {
        let f = parse_fixture(&std::fs::read_to_string(&file).unwrap());
        assert!(
            !f.dests.is_empty() && f.flows.len() >= 200,
            "{}",
            file.display()
        );
        let t = MhTable::build(f.dests.clone(), f.flags).unwrap();
        for (client, real) in &f.flows {
            let got = t
                .lookup(&client.ip(), client.port())
                .map(|d| SocketAddr::new(d.addr, d.port));
            assert_eq!(got, *real, "{}: client {client}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 1000);
}
