//! `lvsd`: the daemon and its verbs. All logic lives in `lvsd::daemon`.
fn main() {}
