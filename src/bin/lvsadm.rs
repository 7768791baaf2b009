//! `lvsadm`: drop-in for ipvsadm 1.31. All logic lives in `lvsd::cli`.
fn main() {}
