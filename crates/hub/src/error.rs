//! The error type of the hub.

use veritas_primitives::{Address, ModelId};

/// What went wrong in the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No model by that name, version or id.
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    /// A name that the hub does not accept.
    #[error("invalid model name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A declared tolerance that the hub does not accept.
    #[error("invalid tolerance: {0}")]
    InvalidTolerance(String),
    /// A push to a name another publisher owns.
    #[error("model name {name:?} belongs to {owner}: only its owner pushes versions of it; choose another name")]
    NotOwner {
        /// The name.
        name: String,
        /// Its owner.
        owner: Address,
    },
    /// An upload larger than the configured limit.
    #[error("upload too large: the limit is {limit} bytes, got at least {got}")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// The bytes received before giving up.
        got: u64,
    },
    /// Stored bytes that no longer match their digest: the store was changed behind the hub's back.
    #[error("integrity check failed for {what}: expected sha256 {expected}, got {got}")]
    Integrity {
        /// What was being loaded.
        what: String,
        /// The recorded digest.
        expected: String,
        /// The digest of the bytes found.
        got: String,
    },
    /// A stored manifest that does not hash to its id.
    #[error("manifest of {id} does not match its id")]
    ManifestMismatch {
        /// The model id.
        id: ModelId,
    },
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The index database failed.
    #[error("index: {0}")]
    Index(String),
    /// A local file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A store location that cannot be used.
    #[error("invalid store location {location:?}: {reason}")]
    Location {
        /// The location given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A stored manifest that cannot be parsed.
    #[error("corrupt manifest: {0}")]
    Manifest(#[from] serde_json::Error),
}

/// Result alias of the hub.
pub type HubResult<T> = Result<T, HubError>;

macro_rules! index_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for HubError {
            fn from(err: $ty) -> HubError {
                HubError::Index(err.to_string())
            }
        }
    )*};
}
index_errors!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);
