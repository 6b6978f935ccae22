//! The subset of `onnx.proto` the importer reads, decoded with prost, and tensor data access.
//!
//! Field numbers are those of onnx/onnx `onnx/onnx.proto`; every other field is skipped.

use prost::Message;
use veritas_quant::{QuantError, quantized::MAX_TENSOR_ELEMENTS};

use crate::{QuantizeError, Result};

/// The most model bytes accepted: the importer holds the whole model in memory.
pub const MAX_MODEL_BYTES: usize = 64 << 20;

/// `ModelProto`: the graph only.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// `graph = 7`.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `GraphProto`: nodes in topological order, initializers, inputs and outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// `node = 1`.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// `initializer = 5`.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// `input = 11`.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// `output = 12`.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator application.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// `input = 1`.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// `output = 2`.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// `name = 3`.
    #[prost(string, tag = "3")]
    pub name: String,
    /// `op_type = 4`.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// `attribute = 5`.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// `domain = 7`.
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `AttributeProto`: the scalar and list forms the supported operators use.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `f = 2`.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// `i = 3`.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// `s = 4`.
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// `floats = 7`.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// `ints = 8`.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// `type = 20` (`AttributeType`: 1 FLOAT, 2 INT, 6 FLOATS, 7 INTS).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// `TensorProto`: an initializer.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// `dims = 1`.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// `data_type = 2` (1 FLOAT, 7 INT64).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// `float_data = 4`.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// `int64_data = 7`.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// `name = 8`.
    #[prost(string, tag = "8")]
    pub name: String,
    /// `raw_data = 9` (little-endian).
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// `data_location = 14` (1 EXTERNAL is refused).
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// `ValueInfoProto`: a graph input's or output's name and type.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// `name = 1`.
    #[prost(string, tag = "1")]
    pub name: String,
    /// `type = 2`.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`: tensor types only.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// `tensor_type = 1`.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// `TypeProto.Tensor`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    /// `elem_type = 1`.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// `shape = 2`.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// `dim = 1`.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a value, or a symbolic name (read as unknown).
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    /// `dim_value = 1`.
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    /// `dim_param = 2`.
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// `TensorProto.DataType.FLOAT`.
pub const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
pub const DATA_TYPE_INT64: i32 = 7;

/// Decodes a model from untrusted bytes.
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto> {
    if bytes.len() > MAX_MODEL_BYTES {
        return Err(QuantError::TooLarge { what: "model bytes", limit: MAX_MODEL_BYTES, got: bytes.len() }.into());
    }
    ModelProto::decode(bytes).map_err(|err| QuantizeError::Decode(err.to_string()))
}

impl TensorProto {
    /// The dimensions, checked non-negative and within [`MAX_TENSOR_ELEMENTS`].
    pub fn shape(&self) -> Result<Vec<usize>> {
        let mut count: usize = 1;
        let mut shape = Vec::with_capacity(self.dims.len());
        for &dim in &self.dims {
            let dim = usize::try_from(dim).map_err(|_| self.bad("negative dimension"))?;
            count = count.checked_mul(dim).filter(|&c| c <= MAX_TENSOR_ELEMENTS).ok_or(QuantError::TooLarge {
                what: "tensor elements",
                limit: MAX_TENSOR_ELEMENTS,
                got: usize::MAX,
            })?;
            shape.push(dim);
        }
        Ok(shape)
    }

    /// The values of a FLOAT tensor, their count checked against the dimensions.
    pub fn floats(&self) -> Result<Vec<f32>> {
        if self.data_type != DATA_TYPE_FLOAT {
            return Err(self.bad("expected a FLOAT tensor"));
        }
        let values: Vec<f32> = if self.raw_data.is_empty() {
            self.float_data.clone()
        } else {
            self.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        };
        self.check_count(values.len(), self.raw_data.len() % 4)?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(self.bad("non-finite value"));
        }
        Ok(values)
    }

    /// The values of an INT64 tensor, their count checked against the dimensions.
    pub fn int64s(&self) -> Result<Vec<i64>> {
        if self.data_type != DATA_TYPE_INT64 {
            return Err(self.bad("expected an INT64 tensor"));
        }
        let values: Vec<i64> = if self.raw_data.is_empty() {
            self.int64_data.clone()
        } else {
            self.raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect()
        };
        self.check_count(values.len(), self.raw_data.len() % 8)?;
        Ok(values)
    }

    fn check_count(&self, got: usize, raw_remainder: usize) -> Result<()> {
        if self.data_location == 1 {
            return Err(self.bad("external data is not supported"));
        }
        let expected: usize = self.shape()?.iter().product();
        if got != expected || raw_remainder != 0 {
            return Err(QuantizeError::BadTensor {
                name: self.name.clone(),
                reason: format!("expected {expected} values, got {got}"),
            });
        }
        Ok(())
    }

    fn bad(&self, reason: &str) -> QuantizeError {
        QuantizeError::BadTensor { name: self.name.clone(), reason: reason.to_owned() }
    }
}

impl NodeProto {
    /// The attribute called `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute.iter().find(|a| a.name == name)
    }

    /// An integer attribute, or `default` when absent.
    pub fn attr_i(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }

    /// A float attribute, or `default` when absent.
    pub fn attr_f(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }

    /// An integer-list attribute, or `None` when absent.
    pub fn attr_ints(&self, name: &str) -> Option<&[i64]> {
        self.attr(name).map(|a| a.ints.as_slice())
    }

    /// How errors name this node: its name, else its first output.
    pub fn label(&self) -> String {
        if self.name.is_empty() { self.output.first().cloned().unwrap_or_default() } else { self.name.clone() }
    }
}
