// Link the agent as a position-dependent executable. Pacemaker forks it every few seconds, and a
// PIE binary of this size spends a measurable part of each run in the dynamic loader applying
// relative relocations; a non-PIE one has none to apply. Only our binaries' link is affected.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
