//! `lvsadm`: drop-in for ipvsadm 1.31. All logic lives in `lvsd::cli`.
fn main() {
    // Arguments that are not UTF-8 are passed on lossily; ipvsadm would
    // reject them as addresses or names anyway.
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = lvsd::cli::run(&argv);
    std::process::exit(code);
}
