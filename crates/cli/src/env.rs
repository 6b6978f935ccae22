//! The environment every command honours: `VERITAS_HOME` and `VERITAS_API`.

use std::path::PathBuf;

/// The default node URL.
pub const DEFAULT_API: &str = "http://127.0.0.1:7700";

/// The data directory: `VERITAS_HOME`, else the user's data directory.
pub fn home() -> PathBuf {
    if let Some(home) = std::env::var_os("VERITAS_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("veritas")
}

/// The node URL: `VERITAS_API`, else [`DEFAULT_API`].
pub fn api() -> String {
    std::env::var("VERITAS_API").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_API.to_owned())
}
