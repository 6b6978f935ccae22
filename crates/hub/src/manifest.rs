//! Manifests: what a model version is made of, hashed to give its id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use veritas_primitives::{ModelId, Schema};

use crate::{HubError, HubResult};

/// The format of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// An ONNX graph.
    Onnx,
    /// A GGUF language model.
    Gguf,
}

impl ModelFormat {
    /// The file name a version's single file gets.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "model.onnx",
            ModelFormat::Gguf => "model.gguf",
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

    /// The single file of a one-file model.
    pub fn main_file(&self) -> Option<&FileEntry> {
        self.files.first()
    }
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
}
