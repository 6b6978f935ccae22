//! Project chores: `cargo xtask test | ci | tidy | setup`.
//!
//! `test` is the README's test command: it fetches ONNX Runtime (the pinned PyPI wheel, with
//! pip, into the target directory) and runs the whole test suite with it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// Must equal the CLI's pin (`crates/cli/src/setup.rs`); `tidy` checks it.
const ONNXRUNTIME_VERSION: &str = "1.31.1";

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().context("xtask lives in the workspace")?.to_owned();
    std::env::set_current_dir(&root)?;
    match task.as_str() {
        "test" => test(&root),
        "ci" => {
            tidy(&root)?;
            contracts(&root)?;
            run(Command::new("git").args(["diff", "--exit-code", "--stat", "contracts/out"])).context(
                "contracts/out differs from what the sources compile to: run `cargo xtask contracts` and commit",
            )?;
            test(&root)?;
            run(Command::new("cargo").args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
            run(Command::new("cargo").args(["build", "-p", "veritas-verifier", "--target", "wasm32-unknown-unknown"]))?;
            run(Command::new("cargo").args(["build", "--locked", "--manifest-path", "fuzz/Cargo.toml"]))
        }
        "tidy" => tidy(&root),
        "contracts" => contracts(&root),
        "setup" => {
            println!("{}", ensure_onnxruntime(&root)?.display());
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <test | ci | tidy | contracts | setup>");
            eprintln!("  test   fetch ONNX Runtime if needed and run every test");
            eprintln!("  ci     tidy, test, clippy -D warnings, and the verifier's WebAssembly build");
            eprintln!("  tidy   project rules: file headers, crate boundaries, pins");
            eprintln!("  contracts  compile contracts/src with the pinned solc into contracts/out");
            eprintln!("  setup  fetch ONNX Runtime for the tests and print its path");
            std::process::exit(2);
        }
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn ensure_onnxruntime(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = target_dir(root).join(format!("onnxruntime-{ONNXRUNTIME_VERSION}"));
    let lib = dir.join(format!("onnxruntime/capi/libonnxruntime.so.{ONNXRUNTIME_VERSION}"));
    if !lib.is_file() {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--target"])
            .arg(&dir)
            .arg(format!("onnxruntime=={ONNXRUNTIME_VERSION}"))
            .env("PIP_ROOT_USER_ACTION", "ignore"))?;
    }
    if !lib.is_file() {
        bail!("pip installed onnxruntime but {} is missing", lib.display());
    }
    Ok(lib)
}

fn test(root: &Path) -> anyhow::Result<()> {
    let lib = ensure_onnxruntime(root)?;
    // Third-party tools the tests drive (viem, anvil), pinned by exact versions and the lock
    // file. `npm install` rather than `npm ci`: anvil's per-platform binaries are optional
    // dependencies, and a lock file written on one platform may lack the others' entries.
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(root.join("clients")))?;
    let nextest = Command::new("cargo").args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    let mut command = Command::new("cargo");
    if nextest {
        command.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        command.args(["test", "--workspace", "--no-fail-fast"]);
    }
    command.args(std::env::args().skip(2));
    run(command.env("ORT_DYLIB_PATH", lib))
}

/// Compiles the Solidity sources with the solc pinned in contracts/package.json (npm).
fn contracts(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("contracts");
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))?;
    run(Command::new("node").arg("build.mjs").current_dir(&dir))
}

fn tidy(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for dir in ["crates", "xtask", "bench", "fuzz"] {
        visit(&root.join(dir), &mut |path| {
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                if !text.lines().next().is_some_and(|l| l.starts_with("//!")) {
                    problems.push(format!("{}: must start with a `//!` line saying what it holds", path.display()));
                }
            }
        });
    }
    // Architecture invariant: the verifier depends on primitives only.
    let manifest = std::fs::read_to_string(root.join("crates/verifier/Cargo.toml"))?;
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
    for line in deps.lines().filter(|l| l.contains('=')) {
        let name = line.split(['.', '=', ' ']).next().unwrap_or("");
        if !["veritas-primitives", "serde_json", "thiserror"].contains(&name) {
            problems.push(format!("crates/verifier depends on {name}; it may depend on primitives only"));
        }
    }
    let cli_pin = std::fs::read_to_string(root.join("crates/cli/src/setup.rs"))?;
    if !cli_pin.contains(&format!("ONNXRUNTIME_VERSION: &str = \"{ONNXRUNTIME_VERSION}\"")) {
        problems.push("the CLI and xtask pin different ONNX Runtime versions".into());
    }
    if problems.is_empty() {
        eprintln!("tidy: ok");
        Ok(())
    } else {
        bail!("tidy:\n  {}", problems.join("\n  "))
    }
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                visit(&path, f);
            }
        } else {
            f(&path);
        }
    }
}
