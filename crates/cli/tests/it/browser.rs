//! The web chat and the explorer in a real browser: `web/tests/browser.mjs` (playwright-core,
//! from web/package-lock.json) drives Debian's Chromium, headless, against `veritas up` with the
//! default language model. `cargo xtask test` installs both; without them this test fails and
//! says what is missing.

use std::{path::PathBuf, process::Command};

#[test]
fn a_person_chats_sees_each_answer_verified_and_settled_and_browses_the_explorer() {
    let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no Chromium at {chromium}: `cargo xtask test` installs Debian's chromium (or set CHROMIUM)"
    );
    assert!(
        web.join("node_modules/playwright-core").is_dir(),
        "web/node_modules lacks playwright-core: `cargo xtask test` runs npm ci in web/"
    );
    // Batches every 4 s, so that the browser sees the answer verified before it is settled.
    // With the simulated enclave, so that a tee answer's label can be seen too.
    let net = crate::common::llm_network(&["--settle-every", "4", "--tee", "simulated"]);
    let shots = std::env::var_os("VERITAS_SCREENSHOTS").map(PathBuf::from);
    let out = Command::new("node")
        .arg(web.join("tests/browser.mjs"))
        .arg(&net.api)
        .args(shots.iter())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser test failed:\n{stdout}\n{stderr}");
    for step in [
        "streams its answer",
        "turns verified, then settled",
        "other text than its receipt signs is marked invalid",
        "invalid after a reload",
        "opens its receipt",
        "UNTRUSTED",
        "sealed in the browser",
    ] {
        assert!(stdout.contains(step), "step {step:?} did not run:\n{stdout}");
    }
}
