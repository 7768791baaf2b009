//! `lvsd`: the daemon and its verbs. All logic (and the verb table,
//! `lvsd::daemon::verbs`) lives in `lvsd::daemon`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(lvsd::daemon::entry::main(&args));
}
