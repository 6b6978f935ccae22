//! The hub: model versions by name, bytes in an object store, names in a redb index.

use std::{path::PathBuf, sync::Arc};

use futures_util::future::BoxFuture;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart, memory::InMemory, path::Path as ObjectPath,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use veritas_primitives::{Address, ModelId, hex};

use crate::{FileEntry, HubError, HubResult, Manifest, PushSpec, Staged, Stager, validate_name, validate_tolerance};

/// `(name, version)` → model id.
const VERSIONS: TableDefinition<(&str, u64), &str> = TableDefinition::new("versions");
/// model id → the first `(name, version)` it was pushed as.
const BY_ID: TableDefinition<&str, (&str, u64)> = TableDefinition::new("by_id");
/// name → the publisher that first pushed it (20 bytes).
const OWNERS: TableDefinition<&str, &[u8]> = TableDefinition::new("owners");

/// Where the hub keeps bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A directory on the local disk.
    Local(PathBuf),
    /// Memory only; for tests.
    Memory,
    /// An S3-compatible bucket, `s3://bucket/prefix`, configured from the usual `AWS_*` variables.
    S3(String),
}

impl StoreLocation {
    /// Parses `memory`, `s3://…`, `file://…` or a plain path.
    pub fn parse(text: &str) -> StoreLocation {
        if text == "memory" {
            StoreLocation::Memory
        } else if text.starts_with("s3://") {
            StoreLocation::S3(text.to_owned())
        } else {
            StoreLocation::Local(PathBuf::from(text.strip_prefix("file://").unwrap_or(text)))
        }
    }

    fn open(&self) -> HubResult<Arc<dyn ObjectStore>> {
        match self {
            StoreLocation::Memory => Ok(Arc::new(InMemory::new())),
            StoreLocation::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?))
            }
            #[cfg(feature = "aws")]
            StoreLocation::S3(url) => {
                let (bucket, prefix) = s3_bucket_and_prefix(url)?;
                // Retries kept short, so that a store that cannot be reached fails the node's start
                // in seconds (object_store's default retries for three minutes).
                let retry = object_store::RetryConfig {
                    max_retries: 4,
                    retry_timeout: std::time::Duration::from_secs(20),
                    ..Default::default()
                };
                let store = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .build()
                    .map_err(|err| HubError::Location { location: url.clone(), reason: err.to_string() })?;
                Ok(match prefix {
                    Some(prefix) => Arc::new(object_store::prefix::PrefixStore::new(store, prefix)),
                    None => Arc::new(store),
                })
            }
            #[cfg(not(feature = "aws"))]
            StoreLocation::S3(url) => Err(HubError::Location {
                location: url.clone(),
                reason: "this build has no S3 support (feature `aws`)".into(),
            }),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Local(dir) => write!(f, "{}", dir.display()),
            StoreLocation::Memory => f.write_str("memory"),
            StoreLocation::S3(url) => f.write_str(url),
        }
    }
}

/// The bucket and the key prefix of `s3://bucket/prefix` (no prefix for `s3://bucket`).
#[cfg(feature = "aws")]
fn s3_bucket_and_prefix(url: &str) -> HubResult<(&str, Option<&str>)> {
    let rest = url.strip_prefix("s3://").unwrap_or(url);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    if bucket.is_empty() {
        return Err(HubError::Location {
            location: url.to_owned(),
            reason: "no bucket named: s3://BUCKET/PREFIX".into(),
        });
    }
    Ok((bucket, (!prefix.is_empty()).then_some(prefix)))
}

/// Why a store's first request failed, in words an operator acts on: a missing bucket, refused
/// credentials, or a store that cannot be reached.
fn store_failure(err: &object_store::Error) -> String {
    let text = err.to_string();
    let has = |needle: &str| text.contains(needle);
    if has("NoSuchBucket") {
        format!("the bucket does not exist: create it, or name another ({text})")
    } else if has("InvalidAccessKeyId") || has("SignatureDoesNotMatch") || has("AccessDenied") || has("403") {
        format!(
            "the store refused the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): {text}"
        )
    } else if has("error sending request") || has("connect") || has("dns") || has("timed out") {
        format!("the store cannot be reached (AWS_ENDPOINT_URL or AWS_ENDPOINT, AWS_REGION): {text}")
    } else {
        text
    }
}

/// How to open a hub.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Directory for the index and staged uploads.
    pub dir: PathBuf,
    /// Where the bytes go.
    pub store: StoreLocation,
    /// The largest model accepted, in bytes.
    pub max_model_bytes: u64,
}

impl HubConfig {
    /// Everything under one local directory.
    pub fn local(dir: PathBuf) -> HubConfig {
        HubConfig { store: StoreLocation::Local(dir.join("objects")), dir, max_model_bytes: 4 << 30 }
    }
}

/// A model version as the hub lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// The repository name.
    pub name: String,
    /// The version number, from 1.
    pub version: u64,
    /// The content address.
    pub id: ModelId,
    /// The manifest.
    pub manifest: Manifest,
}

/// What a push did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushOutcome {
    /// The version now holding the bytes.
    pub version: ModelVersion,
    /// False when the same bytes were already the latest version of that name.
    pub created: bool,
}

/// A store of model versions. The node holds one as `Arc<dyn ModelStore>`.
pub trait ModelStore: Send + Sync {
    /// The stager for uploads into this store.
    fn stager(&self) -> &Stager;

    /// Commits a staged upload as the next version of `name`, unless the latest version already
    /// has the same manifest; the spec's schema, metadata and verifying key were read from the
    /// staged file by the caller, its tolerance is declared by the pusher (ONNX only, checked here).
    fn push<'a>(&'a self, name: &'a str, staged: Staged, spec: PushSpec) -> BoxFuture<'a, HubResult<PushOutcome>>;

    /// Stores bytes by their SHA-256 (a proof), returning the lowercase hex digest.
    fn put_blob(&self, bytes: Vec<u8>) -> BoxFuture<'_, HubResult<String>>;

    /// Bytes stored by [`ModelStore::put_blob`], checked against their digest.
    fn blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, HubResult<Vec<u8>>>;

    /// Every name with its latest version.
    fn list(&self) -> BoxFuture<'_, HubResult<Vec<ModelVersion>>>;

    /// Every version of one name, oldest first.
    fn versions<'a>(&'a self, name: &'a str) -> BoxFuture<'a, HubResult<Vec<ModelVersion>>>;

    /// The publisher that owns `name`, if a publisher pushed it.
    fn owner(&self, name: &str) -> HubResult<Option<Address>>;

    /// Finds a version by `name` (latest), `name@version`, or model id.
    fn resolve<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, HubResult<ModelVersion>>;

    /// A version's main file as a stream of chunks, with its manifest, for files too large to
    /// hold in memory. The digest and size are checked as the chunks pass: a mismatch ends the
    /// stream with [`HubError::Integrity`] (a reader sees a cut-off file, never a changed one
    /// as whole).
    fn stream<'a>(&'a self, id: &'a ModelId) -> BoxFuture<'a, HubResult<(Manifest, FileStream)>>;

    /// The bytes of a version's main file, checked against the manifest's digest.
    fn load<'a>(&'a self, id: &'a ModelId) -> BoxFuture<'a, HubResult<(Manifest, Vec<u8>)>>;
}

/// A file's chunks, each checked on the way (see [`ModelStore::stream`]).
pub type FileStream = futures_util::stream::BoxStream<'static, HubResult<bytes::Bytes>>;

/// The hub over an `object_store` backend.
pub struct Hub {
    store: Arc<dyn ObjectStore>,
    /// Where the bytes are, as configured (for errors).
    location: String,
    index: Database,
    stager: Stager,
    /// Manifests already read and checked against their id; content-addressed, so never stale.
    manifests: std::sync::Mutex<std::collections::HashMap<ModelId, Manifest>>,
}

fn blob_path(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("blobs/sha256/{sha256}"))
}

fn manifest_path(id: &ModelId) -> ObjectPath {
    ObjectPath::from(format!("manifests/{id}.json"))
}

/// The name and version a model id was first pushed as, beside its manifest, so that another
/// node on the same store can serve it by id.
fn name_path(id: &ModelId) -> ObjectPath {
    ObjectPath::from(format!("names/{id}.json"))
}

/// What [`name_path`] holds.
#[derive(Serialize, Deserialize)]
struct NameRecord {
    name: String,
    version: u64,
}

impl Hub {
    /// Makes one request of the store (a listing of its top level): a missing bucket, refused
    /// credentials or a store that cannot be reached are [`HubError::Location`] naming which,
    /// at the node's start rather than at its first push.
    pub async fn check(&self) -> HubResult<()> {
        use futures_util::TryFutureExt;
        self.store
            .list_with_delimiter(None)
            .map_err(|err| HubError::Location { location: self.location.clone(), reason: store_failure(&err) })
            .await
            .map(drop)
    }

    /// Opens (or creates) a hub.
    pub fn open(config: &HubConfig) -> HubResult<Hub> {
        std::fs::create_dir_all(&config.dir)?;
        // Uploads cut off by a crash leave staged files; nothing is in flight at open, so they go.
        let staging = config.dir.join("staging");
        if staging.is_dir() {
            for entry in std::fs::read_dir(&staging)?.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        // The index is small (names, versions, owners): a small page cache.
        let index = Database::builder().set_cache_size(16 << 20).create(config.dir.join("index.redb"))?;
        let txn = index.begin_write()?;
        txn.open_table(VERSIONS)?;
        txn.open_table(BY_ID)?;
        txn.open_table(OWNERS)?;
        txn.commit()?;
        Ok(Hub {
            store: config.store.open()?,
            location: config.store.to_string(),
            index,
            stager: Stager::new(staging, config.max_model_bytes),
            manifests: Default::default(),
        })
    }

    async fn upload_blob(&self, staged: &Staged) -> HubResult<()> {
        let path = blob_path(&staged.sha256);
        if self.store.head(&path).await.is_ok() {
            return Ok(());
        }
        // A multipart upload becomes visible only on completion, so a crash leaves no partial blob.
        let mut writer = WriteMultipart::new(self.store.put_multipart(&path).await?);
        let mut file = tokio::fs::File::open(staged.path()).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    fn cached_manifest(&self, id: &ModelId) -> Option<Manifest> {
        self.manifests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(id).cloned()
    }

    /// The manifest of `id`, checked against the id when read from the store.
    async fn manifest(&self, id: &ModelId) -> HubResult<Manifest> {
        if let Some(manifest) = self.cached_manifest(id) {
            return Ok(manifest);
        }
        let manifest = self.read_manifest(id).await?;
        self.manifests.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(*id, manifest.clone());
        Ok(manifest)
    }

    async fn read_manifest(&self, id: &ModelId) -> HubResult<Manifest> {
        let bytes = match self.store.get(&manifest_path(id)).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(HubError::UnknownModel(id.to_string()));
            }
            Err(err) => return Err(err.into()),
        };
        if ModelId::of_manifest(&bytes) != *id {
            return Err(HubError::ManifestMismatch { id: *id });
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    fn lookup_version(&self, name: &str, version: Option<u64>) -> HubResult<Option<(u64, ModelId)>> {
        let txn = self.index.begin_read()?;
        let table = txn.open_table(VERSIONS)?;
        let mut range = table.range((name, 0)..=(name, version.unwrap_or(u64::MAX)))?;
        let found = match version {
            Some(v) => table.get((name, v))?.map(|id| (v, id.value().to_owned())),
            None => range.next_back().transpose()?.map(|(k, id)| (k.value().1, id.value().to_owned())),
        };
        found
            .map(|(v, id)| {
                Ok((v, id.parse().map_err(|err: veritas_primitives::PrimitiveError| HubError::Index(err.to_string()))?))
            })
            .transpose()
    }

    fn names(&self) -> HubResult<Vec<String>> {
        let txn = self.index.begin_read()?;
        let table = txn.open_table(VERSIONS)?;
        let mut names: Vec<String> = Vec::new();
        for entry in table.iter()? {
            let (key, _) = entry?;
            let name = key.value().0;
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    async fn version_of(&self, name: &str, version: u64, id: ModelId) -> HubResult<ModelVersion> {
        Ok(ModelVersion { name: name.to_owned(), version, id, manifest: self.manifest(&id).await? })
    }

    fn owner_of(&self, name: &str) -> HubResult<Option<Address>> {
        let txn = self.index.begin_read()?;
        let table = txn.open_table(OWNERS)?;
        Ok(table.get(name)?.map(|owner| Address::from_slice(owner.value())))
    }

    /// Refuses a publisher's push to a name another publisher owns.
    fn check_owner(name: &str, owner: Option<Address>, publisher: Option<Address>) -> HubResult<()> {
        match (owner, publisher) {
            (Some(owner), Some(publisher)) if owner != publisher => {
                Err(HubError::NotOwner { name: name.to_owned(), owner })
            }
            _ => Ok(()),
        }
    }

    async fn push_inner(&self, name: &str, staged: Staged, spec: PushSpec) -> HubResult<PushOutcome> {
        let PushSpec { format, schema, metadata, tolerance, zk, owner: publisher } = spec;
        validate_name(name)?;
        validate_tolerance(format, tolerance.as_ref())?;
        Self::check_owner(name, self.owner_of(name)?, publisher)?;
        let manifest = Manifest {
            manifest_version: 1,
            format,
            files: vec![FileEntry {
                path: format.file_name().into(),
                sha256: staged.sha256.clone(),
                size: staged.size,
            }],
            schema,
            metadata,
            tolerance,
            zk,
        };
        let id = manifest.id();
        if let Some((version, latest)) = self.lookup_version(name, None)?
            && latest == id
        {
            return Ok(PushOutcome { version: self.version_of(name, version, id).await?, created: false });
        }
        self.upload_blob(&staged).await?;
        self.store.put(&manifest_path(&id), PutPayload::from(manifest.canonical_bytes())).await?;
        let id_text = id.to_string();
        let mut txn = self.index.begin_write()?;
        txn.set_durability(Durability::Immediate).map_err(|err| HubError::Index(err.to_string()))?;
        let version = {
            // Checked again under the write lock: of two publishers racing for a new name, the
            // first to commit owns it.
            let mut owners = txn.open_table(OWNERS)?;
            let owner = owners.get(name)?.map(|owner| Address::from_slice(owner.value()));
            Self::check_owner(name, owner, publisher)?;
            if let (None, Some(publisher)) = (owner, publisher) {
                owners.insert(name, publisher.as_slice())?;
            }
            let mut versions = txn.open_table(VERSIONS)?;
            let next = versions
                .range((name, 0)..=(name, u64::MAX))?
                .next_back()
                .transpose()?
                .map_or(1, |(k, _)| k.value().1 + 1);
            versions.insert((name, next), id_text.as_str())?;
            let mut by_id = txn.open_table(BY_ID)?;
            if by_id.get(id_text.as_str())?.is_none() {
                by_id.insert(id_text.as_str(), (name, next))?;
            }
            next
        };
        txn.commit()?;
        let record = serde_json::to_vec(&NameRecord { name: name.to_owned(), version })?;
        if let Err(err) = self.store.put(&name_path(&id), PutPayload::from(record)).await {
            // The version is pushed; other nodes on this store then serve it under its id as name.
            tracing::warn!(%name, version, %id, %err, "the model's name could not be written beside it in the store");
        }
        tracing::info!(%name, version, %id, size = staged.size, "model pushed");
        Ok(PushOutcome { version: ModelVersion { name: name.to_owned(), version, id, manifest }, created: true })
    }

    async fn resolve_inner(&self, reference: &str) -> HubResult<ModelVersion> {
        if let Ok(id) = reference.parse::<ModelId>() {
            let found = {
                let txn = self.index.begin_read()?;
                let table = txn.open_table(BY_ID)?;
                table.get(reference)?.map(|entry| {
                    let (name, version) = entry.value();
                    (name.to_owned(), version)
                })
            };
            let (name, version) = match found {
                Some(found) => found,
                None => self.adopt(&id).await?,
            };
            return self.version_of(&name, version, id).await;
        }
        let (name, version) = match reference.split_once('@') {
            Some((name, version)) => {
                let version = version.parse::<u64>().map_err(|_| HubError::UnknownModel(reference.to_owned()))?;
                (name, Some(version))
            }
            None => (reference, None),
        };
        let (version, id) =
            self.lookup_version(name, version)?.ok_or_else(|| HubError::UnknownModel(reference.to_owned()))?;
        self.version_of(name, version, id).await
    }

    /// A model id this hub's index lacks, found in the store (pushed by another node sharing
    /// it): its manifest is read and checked against the id, and the id indexed under the name
    /// and version it was pushed as (its id when no name was written).
    async fn adopt(&self, id: &ModelId) -> HubResult<(String, u64)> {
        self.manifest(id).await?;
        let (name, version) = match self.store.get(&name_path(id)).await {
            Ok(found) => {
                let record: NameRecord = serde_json::from_slice(&found.bytes().await?)?;
                validate_name(&record.name)?;
                (record.name, record.version)
            }
            Err(object_store::Error::NotFound { .. }) => (id.to_string(), 1),
            Err(err) => return Err(err.into()),
        };
        let text = id.to_string();
        let txn = self.index.begin_write()?;
        {
            let mut by_id = txn.open_table(BY_ID)?;
            if by_id.get(text.as_str())?.is_none() {
                by_id.insert(text.as_str(), (name.as_str(), version))?;
            }
        }
        txn.commit()?;
        tracing::info!(%name, version, %id, store = %self.location, "model found in the shared store");
        Ok((name, version))
    }

    async fn stream_inner(&self, id: &ModelId) -> HubResult<(Manifest, FileStream)> {
        use futures_util::StreamExt;
        let manifest = self.read_manifest(id).await?;
        let file = manifest.main_file().ok_or_else(|| HubError::UnknownModel(id.to_string()))?.clone();
        let chunks = match self.store.get(&blob_path(&file.sha256)).await {
            Ok(found) => found.into_stream(),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(HubError::Integrity {
                    what: format!("{id}/{}", file.path),
                    expected: file.sha256,
                    got: "nothing (file missing)".into(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        let what = format!("{id}/{}", file.path);
        // (chunks, the digest so far (None once ended), bytes so far)
        let checked =
            futures_util::stream::unfold((chunks, Some(Sha256::new()), 0u64), move |(mut chunks, mut hasher, size)| {
                let (file, what) = (file.clone(), what.clone());
                async move {
                    let digest = hasher.as_mut()?;
                    match chunks.next().await {
                        Some(Ok(chunk)) => {
                            digest.update(&chunk);
                            let size = size + chunk.len() as u64;
                            Some((Ok(chunk), (chunks, hasher, size)))
                        }
                        Some(Err(err)) => Some((Err(err.into()), (chunks, None, size))),
                        None => {
                            let got = hex::encode(hasher.take()?.finalize());
                            if got == file.sha256 && size == file.size {
                                return None;
                            }
                            tracing::error!(%what, expected = %file.sha256, %got, "model bytes changed in the store");
                            Some((Err(HubError::Integrity { what, expected: file.sha256, got }), (chunks, None, size)))
                        }
                    }
                }
            });
        Ok((manifest, checked.boxed()))
    }

    async fn load_inner(&self, id: &ModelId) -> HubResult<(Manifest, Vec<u8>)> {
        use futures_util::TryStreamExt;
        let (manifest, chunks) = self.stream_inner(id).await?;
        let chunks: Vec<bytes::Bytes> = chunks.try_collect().await?;
        Ok((manifest, chunks.concat()))
    }
}

impl ModelStore for Hub {
    fn stager(&self) -> &Stager {
        &self.stager
    }

    fn push<'a>(&'a self, name: &'a str, staged: Staged, spec: PushSpec) -> BoxFuture<'a, HubResult<PushOutcome>> {
        Box::pin(self.push_inner(name, staged, spec))
    }

    fn put_blob(&self, bytes: Vec<u8>) -> BoxFuture<'_, HubResult<String>> {
        Box::pin(async move {
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let path = blob_path(&sha256);
            if self.store.head(&path).await.is_err() {
                self.store.put(&path, PutPayload::from(bytes)).await?;
            }
            Ok(sha256)
        })
    }

    fn blob<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, HubResult<Vec<u8>>> {
        Box::pin(async move {
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                return Err(HubError::UnknownModel(format!("blob {sha256:?} (not a lowercase hex SHA-256)")));
            }
            let bytes = match self.store.get(&blob_path(sha256)).await {
                Ok(found) => found.bytes().await?.to_vec(),
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(HubError::UnknownModel(format!("blob {sha256}")));
                }
                Err(err) => return Err(err.into()),
            };
            let got = hex::encode(Sha256::digest(&bytes));
            if got != sha256 {
                return Err(HubError::Integrity { what: format!("blob {sha256}"), expected: sha256.to_owned(), got });
            }
            Ok(bytes)
        })
    }

    fn list(&self) -> BoxFuture<'_, HubResult<Vec<ModelVersion>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for name in self.names()? {
                if let Some((version, id)) = self.lookup_version(&name, None)? {
                    out.push(self.version_of(&name, version, id).await?);
                }
            }
            Ok(out)
        })
    }

    fn owner(&self, name: &str) -> HubResult<Option<Address>> {
        self.owner_of(name)
    }

    fn stream<'a>(&'a self, id: &'a ModelId) -> BoxFuture<'a, HubResult<(Manifest, FileStream)>> {
        Box::pin(self.stream_inner(id))
    }

    fn versions<'a>(&'a self, name: &'a str) -> BoxFuture<'a, HubResult<Vec<ModelVersion>>> {
        Box::pin(async move {
            let entries: Vec<(u64, String)> = {
                let txn = self.index.begin_read()?;
                let table = txn.open_table(VERSIONS)?;
                table
                    .range((name, 0)..=(name, u64::MAX))?
                    .map(|entry| entry.map(|(k, v)| (k.value().1, v.value().to_owned())))
                    .collect::<Result<_, _>>()?
            };
            if entries.is_empty() {
                return Err(HubError::UnknownModel(name.to_owned()));
            }
            let mut out = Vec::new();
            for (version, id) in entries {
                let id =
                    id.parse().map_err(|err: veritas_primitives::PrimitiveError| HubError::Index(err.to_string()))?;
                out.push(self.version_of(name, version, id).await?);
            }
            Ok(out)
        })
    }

    fn resolve<'a>(&'a self, reference: &'a str) -> BoxFuture<'a, HubResult<ModelVersion>> {
        Box::pin(self.resolve_inner(reference))
    }

    fn load<'a>(&'a self, id: &'a ModelId) -> BoxFuture<'a, HubResult<(Manifest, Vec<u8>)>> {
        Box::pin(self.load_inner(id))
    }
}

#[cfg(test)]
mod tests;
