//! Staging uploads: bytes stream to a temporary file while they are hashed and counted, so an
//! upload over the limit is cut off early and a half-received upload leaves nothing behind.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use crate::{HubError, HubResult};

/// A fully received upload, not yet in the store. Dropping it deletes the file.
#[derive(Debug)]
pub struct Staged {
    file: NamedTempFile,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl Staged {
    /// The staged file, for inspection before it is committed.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Receives uploads into a staging directory.
#[derive(Clone, Debug)]
pub struct Stager {
    dir: PathBuf,
    limit: u64,
}

impl Stager {
    /// A stager writing under `dir`, refusing uploads over `limit` bytes.
    pub fn new(dir: PathBuf, limit: u64) -> Stager {
        Stager { dir, limit }
    }

    /// The size limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Starts a staged upload.
    pub fn begin(&self) -> HubResult<Upload> {
        std::fs::create_dir_all(&self.dir)?;
        let file = NamedTempFile::new_in(&self.dir)?;
        let writer = tokio::fs::File::from_std(file.reopen()?);
        Ok(Upload { file, writer, hasher: Sha256::new(), size: 0, limit: self.limit })
    }

    /// Stages a whole in-memory buffer.
    pub async fn stage_bytes(&self, bytes: &[u8]) -> HubResult<Staged> {
        let mut upload = self.begin()?;
        upload.write(bytes).await?;
        upload.finish().await
    }

    /// Stages a local file by copying it.
    pub async fn stage_file(&self, path: &Path) -> HubResult<Staged> {
        use tokio::io::AsyncReadExt;
        let mut source = tokio::fs::File::open(path).await?;
        let mut upload = self.begin()?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = source.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            upload.write(&buf[..n]).await?;
        }
        upload.finish().await
    }
}

/// An upload in progress.
pub struct Upload {
    file: NamedTempFile,
    writer: tokio::fs::File,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl Upload {
    /// Appends a chunk; fails once the total passes the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> HubResult<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(HubError::TooLarge { limit: self.limit, got: self.size });
        }
        self.hasher.update(chunk);
        self.writer.write_all(chunk).await?;
        Ok(())
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Completes the upload.
    pub async fn finish(mut self) -> HubResult<Staged> {
        self.writer.flush().await?;
        self.writer.sync_all().await?;
        let sha256 = veritas_primitives::hex::encode(self.hasher.finalize());
        Ok(Staged { file: self.file, sha256, size: self.size })
    }
}
