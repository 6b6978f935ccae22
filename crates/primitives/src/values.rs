//! Named tensor values: their JSON forms for people and their canonical bytes for hashing.
//!
//! A request's inputs and a model's outputs are [`Values`]: a map from name to [`Value`]. The
//! canonical encoding is what the claim's input and output hashes cover, so it is fixed: see
//! `Values::canonical_bytes`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::Error as _};
use serde_json::{Number, Value as Json};

use crate::{B256, PrimitiveError, PrimitiveResult, keccak256};

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit IEEE float.
    Float32,
    /// 64-bit IEEE float.
    Float64,
    /// Signed 64-bit integer.
    Int64,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 8-bit integer.
    Int8,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    String,
}

impl DType {
    /// The lowercase name used in JSON and schemas.
    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Int64 => "int64",
            DType::Int32 => "int32",
            DType::Int8 => "int8",
            DType::Uint8 => "uint8",
            DType::Bool => "bool",
            DType::String => "string",
        }
    }

    fn code(self) -> u8 {
        match self {
            DType::Float32 => 1,
            DType::Float64 => 2,
            DType::Int64 => 3,
            DType::Int32 => 4,
            DType::Int8 => 5,
            DType::Uint8 => 6,
            DType::Bool => 7,
            DType::String => 8,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The elements of a tensor, in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// `float32` elements.
    Float32(Vec<f32>),
    /// `float64` elements.
    Float64(Vec<f64>),
    /// `int64` elements.
    Int64(Vec<i64>),
    /// `int32` elements.
    Int32(Vec<i32>),
    /// `int8` elements.
    Int8(Vec<i8>),
    /// `uint8` elements.
    Uint8(Vec<u8>),
    /// `bool` elements.
    Bool(Vec<bool>),
    /// `string` elements.
    String(Vec<String>),
}

impl TensorData {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::Float32(_) => DType::Float32,
            TensorData::Float64(_) => DType::Float64,
            TensorData::Int64(_) => DType::Int64,
            TensorData::Int32(_) => DType::Int32,
            TensorData::Int8(_) => DType::Int8,
            TensorData::Uint8(_) => DType::Uint8,
            TensorData::Bool(_) => DType::Bool,
            TensorData::String(_) => DType::String,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::Float32(v) => v.len(),
            TensorData::Float64(v) => v.len(),
            TensorData::Int64(v) => v.len(),
            TensorData::Int32(v) => v.len(),
            TensorData::Int8(v) => v.len(),
            TensorData::Uint8(v) => v.len(),
            TensorData::Bool(v) => v.len(),
            TensorData::String(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of the first NaN or infinite element, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        match self {
            TensorData::Float32(v) => v.iter().position(|x| !x.is_finite()),
            TensorData::Float64(v) => v.iter().position(|x| !x.is_finite()),
            _ => None,
        }
    }
}

/// A dense tensor: a shape and its elements.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// Elements in row-major order; their count is the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// A tensor, checked: the element count must match the shape.
    pub fn new(name: &str, shape: Vec<u64>, data: TensorData) -> PrimitiveResult<Tensor> {
        let expected = shape.iter().try_fold(1u64, |acc, &dim| acc.checked_mul(dim));
        match expected {
            Some(n) if n == data.len() as u64 => Ok(Tensor { shape, data }),
            Some(n) => Err(tensor_err(name, format!("shape {shape:?} needs {n} elements, got {}", data.len()))),
            None => Err(tensor_err(name, format!("shape {shape:?} overflows"))),
        }
    }

    /// Parses nested JSON arrays (`[[1, 2], [3, 4]]`) of the given element type; the shape is read
    /// from the nesting, which must be rectangular.
    pub fn from_nested_json(name: &str, dtype: DType, json: &Json) -> PrimitiveResult<Tensor> {
        let mut shape = Vec::new();
        let mut cursor = json;
        while let Json::Array(items) = cursor {
            shape.push(items.len() as u64);
            match items.first() {
                Some(first) => cursor = first,
                None => break,
            }
        }
        let mut leaves = Vec::new();
        collect_leaves(name, json, &shape, 0, &mut leaves)?;
        let data = leaves_to_data(name, dtype, &leaves)?;
        Tensor::new(name, shape, data)
    }
}

fn tensor_err(name: &str, reason: impl Into<String>) -> PrimitiveError {
    PrimitiveError::Tensor { name: name.to_owned(), reason: reason.into() }
}

fn collect_leaves<'a>(
    name: &str,
    json: &'a Json,
    shape: &[u64],
    depth: usize,
    out: &mut Vec<&'a Json>,
) -> PrimitiveResult<()> {
    match (json, shape.get(depth)) {
        (Json::Array(items), Some(&len)) => {
            if items.len() as u64 != len {
                return Err(tensor_err(
                    name,
                    format!("ragged array: dimension {depth} has length {len} and also {}", items.len()),
                ));
            }
            items.iter().try_for_each(|item| collect_leaves(name, item, shape, depth + 1, out))
        }
        (Json::Array(_), None) => Err(tensor_err(name, format!("ragged array: unexpected nesting at depth {depth}"))),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
        (_, Some(_)) => Err(tensor_err(name, format!("ragged array: expected an array at depth {depth}"))),
    }
}

fn leaf_f64(name: &str, index: usize, leaf: &Json) -> PrimitiveResult<f64> {
    match leaf {
        Json::Number(n) => n.as_f64().ok_or_else(|| tensor_err(name, format!("element {index}: {n} is not a number"))),
        Json::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(tensor_err(name, format!("element {index}: expected a number, got the string {s:?}"))),
        },
        other => Err(tensor_err(name, format!("element {index}: expected a number, got {}", json_kind(other)))),
    }
}

fn leaf_i64(name: &str, index: usize, leaf: &Json) -> PrimitiveResult<i64> {
    match leaf {
        Json::Number(n) => {
            n.as_i64().ok_or_else(|| tensor_err(name, format!("element {index}: expected an integer, got {n}")))
        }
        other => Err(tensor_err(name, format!("element {index}: expected an integer, got {}", json_kind(other)))),
    }
}

fn int_in<T: TryFrom<i64>>(name: &str, dtype: DType, index: usize, value: i64) -> PrimitiveResult<T> {
    T::try_from(value).map_err(|_| tensor_err(name, format!("element {index}: {value} is out of range for {dtype}")))
}

fn json_kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn leaves_to_data(name: &str, dtype: DType, leaves: &[&Json]) -> PrimitiveResult<TensorData> {
    let enumerate = || leaves.iter().enumerate();
    Ok(match dtype {
        DType::Float32 => TensorData::Float32(
            enumerate()
                .map(|(i, leaf)| {
                    let wide = leaf_f64(name, i, leaf)?;
                    let narrow = wide as f32;
                    if wide.is_finite() && !narrow.is_finite() {
                        return Err(tensor_err(name, format!("element {i}: {wide} is out of range for float32")));
                    }
                    Ok(narrow)
                })
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::Float64 => {
            TensorData::Float64(enumerate().map(|(i, leaf)| leaf_f64(name, i, leaf)).collect::<PrimitiveResult<_>>()?)
        }
        DType::Int64 => {
            TensorData::Int64(enumerate().map(|(i, leaf)| leaf_i64(name, i, leaf)).collect::<PrimitiveResult<_>>()?)
        }
        DType::Int32 => TensorData::Int32(
            enumerate()
                .map(|(i, leaf)| int_in(name, dtype, i, leaf_i64(name, i, leaf)?))
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::Int8 => TensorData::Int8(
            enumerate()
                .map(|(i, leaf)| int_in(name, dtype, i, leaf_i64(name, i, leaf)?))
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::Uint8 => TensorData::Uint8(
            enumerate()
                .map(|(i, leaf)| int_in(name, dtype, i, leaf_i64(name, i, leaf)?))
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::Bool => TensorData::Bool(
            enumerate()
                .map(|(i, leaf)| match leaf {
                    Json::Bool(b) => Ok(*b),
                    other => {
                        Err(tensor_err(name, format!("element {i}: expected a boolean, got {}", json_kind(other))))
                    }
                })
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::String => TensorData::String(
            enumerate()
                .map(|(i, leaf)| match leaf {
                    Json::String(s) => Ok(s.clone()),
                    other => Err(tensor_err(name, format!("element {i}: expected a string, got {}", json_kind(other)))),
                })
                .collect::<PrimitiveResult<_>>()?,
        ),
    })
}

/// The key type of a map in a sequence of maps (the output of ONNX-ML's ZipMap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MapKey {
    /// Integer class labels.
    Int64,
    /// String class labels.
    String,
}

/// One named value: a dense tensor, or a sequence of maps from label to score.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A dense tensor.
    Tensor(Tensor),
    /// A sequence of maps from integer labels to `float32` scores.
    Int64Maps(Vec<BTreeMap<i64, f32>>),
    /// A sequence of maps from string labels to `float32` scores.
    StringMaps(Vec<BTreeMap<String, f32>>),
}

/// Named values, ordered by name: a request's inputs or a model's outputs.
pub type Values = BTreeMap<String, Value>;

/// JSON form of a [`Value`]: `{"dtype": "float32", "shape": [1, 4], "data": [..]}`, or for
/// sequences of maps `{"dtype": "seq(map(int64,float32))", "data": [{"0": 0.9, ..}]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueJson {
    dtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shape: Option<Vec<u64>>,
    data: Json,
}

const INT64_MAPS: &str = "seq(map(int64,float32))";
const STRING_MAPS: &str = "seq(map(string,float32))";

fn float_json(x: f64) -> Json {
    match Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("NaN".into()),
        None if x > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn f32_json(x: f32) -> Json {
    // Going through the shortest decimal form of the f32 keeps `0.1f32` as `0.1` rather than
    // `0.10000000149011612`; parsing it back through f64 gives the same f32 (double rounding
    // is innocuous from 53 to 24 bits).
    if x.is_finite() {
        let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(x));
        float_json(shortest)
    } else {
        float_json(f64::from(x))
    }
}

impl Value {
    /// The JSON form.
    pub fn to_json(&self) -> Json {
        let (dtype, shape, data) = match self {
            Value::Tensor(t) => {
                let data = match &t.data {
                    TensorData::Float32(v) => v.iter().map(|&x| f32_json(x)).collect(),
                    TensorData::Float64(v) => v.iter().map(|&x| float_json(x)).collect(),
                    TensorData::Int64(v) => v.iter().map(|&x| Json::from(x)).collect(),
                    TensorData::Int32(v) => v.iter().map(|&x| Json::from(x)).collect(),
                    TensorData::Int8(v) => v.iter().map(|&x| Json::from(x)).collect(),
                    TensorData::Uint8(v) => v.iter().map(|&x| Json::from(x)).collect(),
                    TensorData::Bool(v) => v.iter().map(|&x| Json::from(x)).collect(),
                    TensorData::String(v) => v.iter().map(|x| Json::from(x.as_str())).collect(),
                };
                (t.data.dtype().name().to_owned(), Some(t.shape.clone()), Json::Array(data))
            }
            Value::Int64Maps(maps) => (
                INT64_MAPS.to_owned(),
                None,
                maps.iter()
                    .map(|m| Json::Object(m.iter().map(|(k, &v)| (k.to_string(), f32_json(v))).collect()))
                    .collect(),
            ),
            Value::StringMaps(maps) => (
                STRING_MAPS.to_owned(),
                None,
                maps.iter().map(|m| Json::Object(m.iter().map(|(k, &v)| (k.clone(), f32_json(v))).collect())).collect(),
            ),
        };
        serde_json::to_value(ValueJson { dtype, shape, data }).unwrap_or(Json::Null)
    }

    /// Parses the JSON form written by [`Value::to_json`].
    pub fn from_json(name: &str, json: &Json) -> PrimitiveResult<Value> {
        let typed: ValueJson = serde_json::from_value(json.clone())
            .map_err(|err| tensor_err(name, format!("expected {{\"dtype\", \"shape\", \"data\"}}: {err}")))?;
        match typed.dtype.as_str() {
            INT64_MAPS | STRING_MAPS => {
                let Json::Array(items) = &typed.data else {
                    return Err(tensor_err(name, "data of a sequence of maps must be an array of objects"));
                };
                let mut int_maps = Vec::new();
                let mut string_maps = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let Json::Object(map) = item else {
                        return Err(tensor_err(name, format!("map {i}: expected an object, got {}", json_kind(item))));
                    };
                    let mut ints = BTreeMap::new();
                    let mut strings = BTreeMap::new();
                    for (key, score) in map {
                        let score = leaf_f64(name, i, score)? as f32;
                        if typed.dtype == INT64_MAPS {
                            let key = key
                                .parse::<i64>()
                                .map_err(|_| tensor_err(name, format!("map {i}: key {key:?} is not an int64")))?;
                            ints.insert(key, score);
                        } else {
                            strings.insert(key.clone(), score);
                        }
                    }
                    int_maps.push(ints);
                    string_maps.push(strings);
                }
                Ok(if typed.dtype == INT64_MAPS { Value::Int64Maps(int_maps) } else { Value::StringMaps(string_maps) })
            }
            dtype_name => {
                let dtype: DType = serde_json::from_value(Json::String(dtype_name.to_owned()))
                    .map_err(|_| tensor_err(name, format!("unknown dtype {dtype_name:?}")))?;
                let Json::Array(items) = &typed.data else {
                    return Err(tensor_err(name, "data must be a flat array"));
                };
                let leaves: Vec<&Json> = items.iter().collect();
                if let Some(i) = leaves.iter().position(|leaf| leaf.is_array()) {
                    return Err(tensor_err(name, format!("element {i}: data must be flat, shape goes in \"shape\"")));
                }
                let data = leaves_to_data(name, dtype, &leaves)?;
                let shape = typed.shape.unwrap_or_else(|| vec![data.len() as u64]);
                Ok(Value::Tensor(Tensor::new(name, shape, data)?))
            }
        }
    }
}

/// The JSON object form of named values.
pub fn values_to_json(values: &Values) -> Json {
    Json::Object(values.iter().map(|(name, value)| (name.clone(), value.to_json())).collect())
}

/// Parses the JSON object form of named values.
pub fn values_from_json(json: &Json) -> PrimitiveResult<Values> {
    let Json::Object(map) = json else {
        return Err(PrimitiveError::Decode {
            what: "values",
            reason: format!("expected an object, got {}", json_kind(json)),
        });
    };
    map.iter().map(|(name, value)| Ok((name.clone(), Value::from_json(name, value)?))).collect()
}

/// Magic and version at the start of the canonical encoding of values.
const VALUES_MAGIC: &[u8; 8] = b"VRTVAL\x00\x01";

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// The canonical bytes of named values, which claims hash.
///
/// Layout (integers little-endian, lengths as u64): magic `VRTVAL\0\x01`, count, then per value
/// in name order: name, a kind byte (1 tensor, 2 int64 maps, 3 string maps) and its body. A
/// tensor body is a dtype code, the rank, the dimensions and the elements (numbers as their
/// little-endian bits, bools as one byte, strings length-prefixed). A maps body is the number of
/// maps, then per map the number of entries and each (key, f32 bits) in key order.
pub fn canonical_bytes(values: &Values) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(VALUES_MAGIC);
    put_len(&mut out, values.len());
    for (name, value) in values {
        put_str(&mut out, name);
        match value {
            Value::Tensor(t) => {
                out.push(1);
                out.push(t.data.dtype().code());
                put_len(&mut out, t.shape.len());
                t.shape.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
                match &t.data {
                    TensorData::Float32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
                    TensorData::Float64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
                    TensorData::Int64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                    TensorData::Int32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                    TensorData::Int8(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                    TensorData::Uint8(v) => out.extend_from_slice(v),
                    TensorData::Bool(v) => v.iter().for_each(|&x| out.push(u8::from(x))),
                    TensorData::String(v) => v.iter().for_each(|x| put_str(&mut out, x)),
                }
            }
            Value::Int64Maps(maps) => {
                out.push(2);
                put_len(&mut out, maps.len());
                for map in maps {
                    put_len(&mut out, map.len());
                    for (k, v) in map {
                        out.extend_from_slice(&k.to_le_bytes());
                        out.extend_from_slice(&v.to_bits().to_le_bytes());
                    }
                }
            }
            Value::StringMaps(maps) => {
                out.push(3);
                put_len(&mut out, maps.len());
                for map in maps {
                    put_len(&mut out, map.len());
                    for (k, v) in map {
                        put_str(&mut out, k);
                        out.extend_from_slice(&v.to_bits().to_le_bytes());
                    }
                }
            }
        }
    }
    out
}

/// Keccak-256 of the canonical bytes of named values.
pub fn values_hash(values: &Values) -> B256 {
    keccak256(canonical_bytes(values))
}

/// Parameters of a request (sampling settings for LLMs; empty for ONNX models), hashed as
/// canonical JSON: keys sorted, no whitespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub BTreeMap<String, Json>);

impl Params {
    /// Keccak-256 of the canonical JSON.
    pub fn hash(&self) -> B256 {
        // serde_json's map is ordered by key (no `preserve_order` feature), so this is canonical.
        keccak256(serde_json::to_vec(&self.0).unwrap_or_default())
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        let json = Json::deserialize(deserializer)?;
        Value::from_json("value", &json).map_err(D::Error::custom)
    }
}

mod decode;
pub use decode::values_from_canonical;

#[cfg(test)]
mod tests;
