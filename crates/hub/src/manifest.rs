//! Manifests: what a model version is made of, hashed to give its id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use veritas_primitives::Tolerance;
use veritas_primitives::{Address, ModelId, Schema};

use crate::{HubError, HubResult};

/// The format of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// An ONNX graph.
    Onnx,
    /// A GGUF language model.
    Gguf,
    /// A quantized network (`veritas-quant`'s JSON): run by the bit-exact integer executor, and
    /// provable in `zk` mode.
    Quantized,
}

impl ModelFormat {
    /// Its name, as the API and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::Gguf => "gguf",
            ModelFormat::Quantized => "quantized",
        }
    }

    /// The file name a version's single file gets.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "model.onnx",
            ModelFormat::Gguf => "model.gguf",
            ModelFormat::Quantized => "model.quant.json",
        }
    }
}

/// One file of a model version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// The file's name within the version.
    pub path: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a `zk` proof about a quantized model is checked against: published in the manifest, so
/// the model id binds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkEntry {
    /// The verifying key's canonical bytes, hex: the architecture with its scales, the
    /// commitment to every weight and bias, and the commitment's parameters.
    pub verifying_key: String,
    /// Lowercase hex SHA-256 of those bytes: the model commitment.
    pub commitment: String,
    /// The proofs' proven soundness, in bits.
    pub security_bits: u32,
}

/// A model version: its format, files and interface. Its canonical JSON (keys sorted, no
/// whitespace) hashes to the model id, so it holds nothing that differs between two pushes of the
/// same bytes (no name, no time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub manifest_version: u32,
    /// The model's format.
    pub format: ModelFormat,
    /// The files, by path.
    pub files: Vec<FileEntry>,
    /// Inputs and outputs, read from the model.
    pub schema: Schema,
    /// Facts read from the model (producer, opset, …).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// How far a validator's re-executed float outputs may be from the claimed ones (ONNX only).
    /// Absent, they must be exact. Left out of the JSON when absent, so manifests without one
    /// keep their ids; present, it is part of the model id, so every claim signs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Tolerance>,
    /// A quantized model's verifying key for `zk` proofs. Left out when absent, so other
    /// manifests keep their ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zk: Option<ZkEntry>,
}

/// What the pusher and the inspection of the file say about a new version.
#[derive(Clone, Debug)]
pub struct PushSpec {
    /// The file's format.
    pub format: ModelFormat,
    /// Inputs and outputs, read from the file.
    pub schema: Schema,
    /// Facts read from the file.
    pub metadata: BTreeMap<String, String>,
    /// The declared tolerance (ONNX only).
    pub tolerance: Option<Tolerance>,
    /// The verifying key of a quantized model.
    pub zk: Option<ZkEntry>,
    /// Who pushed it: the first publisher of a name owns it, and only the owner adds versions.
    /// `None` for the node's own pushes (its examples), which neither claim nor need a name.
    pub owner: Option<Address>,
}

impl Manifest {
    /// The manifest as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The canonical bytes: compact JSON with sorted keys, as the verifier recomputes them.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Going through `serde_json::Value` sorts every object's keys.
        serde_json::to_vec(&self.to_json()).unwrap_or_default()
    }

    /// The model id.
    pub fn id(&self) -> ModelId {
        ModelId::of_manifest(&self.canonical_bytes())
    }

    /// Whether it is a sentence-embedding model: a GGUF whose header names a pooling (the push
    /// records it as `pooling`).
    pub fn is_embedding(&self) -> bool {
        self.format == ModelFormat::Gguf && self.metadata.contains_key("pooling")
    }

    /// The single file of a one-file model.
    pub fn main_file(&self) -> Option<&FileEntry> {
        self.files.first()
    }
}

/// Checks a declared tolerance: ONNX models only; both parts finite and non-negative, not both
/// zero (see [`Tolerance::check`]).
pub fn validate_tolerance(format: ModelFormat, tolerance: Option<&Tolerance>) -> HubResult<()> {
    let Some(tolerance) = tolerance else { return Ok(()) };
    if format != ModelFormat::Onnx {
        return Err(HubError::InvalidTolerance(
            "a tolerance applies to the float outputs of ONNX models only; a language model's completion is \
             checked by rescoring"
                .into(),
        ));
    }
    tolerance.check().map_err(HubError::InvalidTolerance)
}

/// Checks a model name: 1 to 64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
/// Names never become paths, but the rule keeps them safe to print and to type.
pub fn validate_name(name: &str) -> HubResult<()> {
    let fail = |reason| Err(HubError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() || name.len() > 64 {
        return fail("must be 1 to 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        return fail("only lowercase letters, digits, '.', '_' and '-' are allowed");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("must start with a letter or a digit");
    }
    if name.contains("..") {
        return fail("must not contain '..'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["iris", "mnist-mlp", "a", "v1.2_x", "0abc"] {
            validate_name(good).unwrap();
        }
        for (bad, reason) in [
            ("", "1 to 64"),
            ("Iris", "lowercase"),
            ("../etc", "lowercase"),
            ("a/b", "lowercase"),
            ("a..b", "'..'"),
            (".hidden", "start with"),
            ("x y", "lowercase"),
        ] {
            let err = validate_name(bad).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad}: {err}");
        }
        validate_name(&"a".repeat(65)).unwrap_err();
    }

    fn manifest(tolerance: Option<Tolerance>) -> Manifest {
        Manifest {
            manifest_version: 1,
            format: ModelFormat::Onnx,
            files: vec![FileEntry { path: "model.onnx".into(), sha256: "00".repeat(32), size: 1 }],
            schema: Schema::default(),
            metadata: BTreeMap::new(),
            tolerance,
            zk: None,
        }
    }

    #[test]
    fn a_tolerance_is_part_of_the_id_and_absent_changes_nothing() {
        let exact = manifest(None);
        let text = String::from_utf8(exact.canonical_bytes()).unwrap();
        assert!(!text.contains("tolerance"), "{text}");
        let old: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(old.id(), exact.id());
        let tolerant = manifest(Some(Tolerance { abs: 1e-3, rel: 0.0 }));
        let text = String::from_utf8(tolerant.canonical_bytes()).unwrap();
        assert!(text.contains(r#""tolerance":{"abs":0.001,"rel":0.0}"#), "{text}");
        assert_ne!(tolerant.id(), exact.id());
        let read: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!((read.id(), read), (tolerant.id(), tolerant));
    }

    #[test]
    fn tolerances() {
        validate_tolerance(ModelFormat::Onnx, None).unwrap();
        validate_tolerance(ModelFormat::Gguf, None).unwrap();
        validate_tolerance(ModelFormat::Onnx, Some(&Tolerance { abs: 1e-3, rel: 1e-4 })).unwrap();
        for (format, tolerance, expected) in [
            (ModelFormat::Gguf, Tolerance { abs: 1e-3, rel: 0.0 }, "ONNX models only"),
            (ModelFormat::Onnx, Tolerance { abs: -1.0, rel: 0.0 }, "tolerance.abs must not be negative"),
            (ModelFormat::Onnx, Tolerance { abs: 0.0, rel: f64::NAN }, "tolerance.rel must be a finite number"),
            (ModelFormat::Onnx, Tolerance { abs: 0.0, rel: 0.0 }, "leave the tolerance out"),
        ] {
            let err = validate_tolerance(format, Some(&tolerance)).unwrap_err().to_string();
            assert!(err.starts_with("invalid tolerance: ") && err.contains(expected), "{err}");
        }
    }
}
