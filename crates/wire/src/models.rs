//! Models as the API lists, shows and takes them: OpenAI's list shape with each version's
//! details under `veritas`, and the answer to a push.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use veritas_hub::{Manifest, ModelFormat, ModelVersion};
use veritas_primitives::ModelId;

/// `GET /v1/models`: every model with its latest version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: String,
    /// The models.
    pub data: Vec<ModelEntry>,
}

/// One model version in OpenAI's shape: its name as `id`, its details under `veritas`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelEntry {
    /// The model's name (what OpenAI clients pass as `model`).
    pub id: String,
    /// Always `model`.
    pub object: String,
    /// Always 0: versions are ordered by number, not time.
    pub created: u64,
    /// Always `veritas`.
    pub owned_by: String,
    /// The version's details.
    pub veritas: ModelDetails,
}

/// A model version's details.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModelDetails {
    /// The name.
    pub name: String,
    /// The version number, from 1.
    pub version: u64,
    /// The model id.
    #[schema(value_type = crate::schema::ModelId)]
    pub model_id: ModelId,
    /// The file format.
    #[schema(value_type = crate::schema::ModelFormat)]
    pub format: ModelFormat,
    /// The manifest the model id hashes.
    #[schema(value_type = crate::schema::Manifest)]
    pub manifest: Manifest,
    /// Every version of the name (`GET /v1/models/{reference}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionRef>>,
}

/// One version of a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VersionRef {
    /// The version number.
    pub version: u64,
    /// Its model id.
    #[schema(value_type = crate::schema::ModelId)]
    pub model_id: ModelId,
}

impl ModelEntry {
    /// A version in OpenAI's shape (without the name's other versions).
    pub fn of(version: &ModelVersion) -> ModelEntry {
        ModelEntry {
            id: version.name.clone(),
            object: "model".into(),
            created: 0,
            owned_by: "veritas".into(),
            veritas: ModelDetails {
                name: version.name.clone(),
                version: version.version,
                model_id: version.id,
                format: version.manifest.format,
                manifest: version.manifest.clone(),
                versions: None,
            },
        }
    }

    /// The version it describes.
    pub fn version(&self) -> ModelVersion {
        ModelVersion {
            name: self.veritas.name.clone(),
            version: self.veritas.version,
            id: self.veritas.model_id,
            manifest: self.veritas.manifest.clone(),
        }
    }
}

/// `POST /v1/models`'s query: the name, the format and any declared tolerance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// The repository name.
    pub name: String,
    /// The file's format (`onnx` if absent).
    #[serde(default = "onnx")]
    #[param(value_type = Option<crate::schema::ModelFormat>)]
    pub format: ModelFormat,
    /// The absolute part of the model's tolerance (ONNX only); with `tolerance_rel`, 0 if absent.
    pub tolerance_abs: Option<f64>,
    /// The relative part of the model's tolerance (ONNX only); with `tolerance_abs`, 0 if absent.
    pub tolerance_rel: Option<f64>,
}

fn onnx() -> ModelFormat {
    ModelFormat::Onnx
}

/// The answer to a push: 201 with a new version, 200 when the bytes were the latest already.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PushAnswer {
    /// The name.
    pub name: String,
    /// The version now holding the bytes.
    pub version: u64,
    /// Its model id.
    #[schema(value_type = crate::schema::ModelId)]
    pub model_id: ModelId,
    /// Whether a new version was made.
    pub created: bool,
    /// Its manifest.
    #[schema(value_type = crate::schema::Manifest)]
    pub manifest: Manifest,
}
