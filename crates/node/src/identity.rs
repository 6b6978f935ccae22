//! The worker's identity: a secp256k1 key in a file only its owner can read.

use std::{io::Write, path::Path};

use veritas_primitives::{B256, WorkerKey};

/// Why a node's key cannot be loaded or created. The secret is never part of a message.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is not 32 bytes of hex.
    #[error("expected 32 bytes as 64 hex digits (0x prefix optional)")]
    NotHex,
    /// The bytes are not a secp256k1 secret key.
    #[error(transparent)]
    Invalid(#[from] veritas_primitives::PrimitiveError),
    /// The key file may be read by others.
    #[error("{} is readable by others (mode {mode:o}); run `chmod 600` on it", path.display())]
    Exposed {
        /// The key file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn parse_hex(text: &str) -> Result<WorkerKey, KeyError> {
    let bytes: B256 = text.trim().parse().map_err(|_| KeyError::NotHex)?;
    Ok(WorkerKey::from_bytes(&bytes)?)
}

/// The key given as hex if any, else the key in `path`, else a new key written to `path` with
/// mode 0600. The secret is never logged.
pub fn load_or_create_key(path: &Path, key_hex: Option<&str>) -> Result<WorkerKey, KeyError> {
    if let Some(hex) = key_hex {
        return parse_hex(hex);
    }
    let io = |source: std::io::Error| KeyError::Io { path: path.to_owned(), source };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(KeyError::Exposed { path: path.to_owned(), mode });
                }
            }
            parse_hex(&text)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = WorkerKey::random();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io)?;
            writeln!(file, "{}", key.secret()).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(address = %key.address(), path = %path.display(), "created a new worker key");
            Ok(key)
        }
        Err(err) => Err(io(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reloaded_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/worker.key");
        let first = load_or_create_key(&path, None).unwrap();
        let again = load_or_create_key(&path, None).unwrap();
        assert_eq!(first.address(), again.address());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        load_or_create_key(&path, None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = load_or_create_key(&path, None).unwrap_err().to_string();
            assert!(err.contains("readable by others"), "{err}");
        }
    }

    #[test]
    fn hex_from_the_environment_wins_and_bad_hex_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
        let key = load_or_create_key(&dir.path().join("unused"), Some(hex)).unwrap();
        assert_eq!(key.address().to_string(), "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
        assert!(!dir.path().join("unused").exists());
        let err = load_or_create_key(&dir.path().join("unused"), Some("zz")).unwrap_err().to_string();
        assert!(err.contains("64 hex digits"), "{err}");
        assert!(!err.contains("zz"), "the secret must not be echoed: {err}");
    }
}
