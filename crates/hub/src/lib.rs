//! veritas hub: a content-addressed store of model versions.
//!
//! Bytes live in an object store (a local directory by default, any `object_store` backend by
//! configuration) under their SHA-256; each version has a manifest whose SHA-256 is the model id.
//! A redb index maps names to their immutable versions. Every load checks the digests again.

mod error;
mod hub;
mod manifest;
mod stage;

pub use error::{HubError, HubResult};
pub use hub::{FileStream, Hub, HubConfig, ModelStore, ModelVersion, PushOutcome, StoreLocation};
pub use manifest::{FileEntry, Manifest, ModelFormat, PushSpec, Tolerance, ZkEntry, validate_name, validate_tolerance};
pub use stage::{Staged, Stager, Upload};
