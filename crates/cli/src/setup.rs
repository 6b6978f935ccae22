//! Fetching ONNX Runtime: the `libonnxruntime` of the pinned PyPI wheel, installed with pip into
//! the data directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The pinned ONNX Runtime release; `ort` is built against its C API.
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

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
