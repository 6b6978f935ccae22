//! A model's interface: its named inputs and outputs with their types and shapes.

use serde::{Deserialize, Serialize};

/// The type and shape of one named input or output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// The name the model gives it.
    pub name: String,
    /// `float32`, `int64`, `string`, …, or `seq(map(int64,float32))` for a sequence of maps.
    pub dtype: String,
    /// Dimensions; `null` where the model leaves a dimension free. Empty for sequences.
    pub shape: Vec<Option<u64>>,
}

/// A model's inputs and outputs, in the model's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The inputs.
    pub inputs: Vec<TensorSpec>,
    /// The outputs.
    pub outputs: Vec<TensorSpec>,
}

impl TensorSpec {
    /// The shape for people: `[?, 4]`.
    pub fn shape_text(&self) -> String {
        let dims: Vec<String> = self.shape.iter().map(|d| d.map_or("?".to_owned(), |d| d.to_string())).collect();
        format!("[{}]", dims.join(", "))
    }
}
