//! Decoding the canonical bytes of named values ([`super::canonical_bytes`]), for inputs that
//! arrive as bytes: a contract's request carries its input this way, and its hash is the claim's.
//!
//! The bytes are untrusted. Every length is checked against what is left before anything is
//! allocated, and the decoded values must encode back to exactly the same bytes, so there is
//! one encoding per value (names and map keys in order, no duplicates, no trailing bytes).

use std::collections::BTreeMap;

use super::{DType, Tensor, TensorData, VALUES_MAGIC, Value, Values, canonical_bytes};
use crate::{PrimitiveError, PrimitiveResult};

/// The most dimensions a decoded tensor may have.
const MAX_RANK: u64 = 16;

fn error(reason: impl Into<String>) -> PrimitiveError {
    PrimitiveError::Decode { what: "canonical values", reason: reason.into() }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> PrimitiveResult<&'a [u8]> {
        if n > self.left() {
            return Err(error(format!("{what} needs {n} bytes at offset {}, {} are left", self.at, self.left())));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> PrimitiveResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn byte(&mut self, what: &str) -> PrimitiveResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u64(&mut self, what: &str) -> PrimitiveResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items of at least `min_size` bytes each, which must fit in what is left.
    fn count(&mut self, min_size: usize, what: &str) -> PrimitiveResult<usize> {
        let at = self.at;
        let n = self.u64(what)?;
        let fits = usize::try_from(n).ok().filter(|&n| n.checked_mul(min_size).is_some_and(|b| b <= self.left()));
        fits.ok_or_else(|| error(format!("{what} {n} at offset {at} does not fit in the {} bytes left", self.left())))
    }

    fn string(&mut self, what: &str) -> PrimitiveResult<String> {
        let at = self.at;
        let len = self.count(1, what)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| error(format!("{what} at offset {at} is not UTF-8")))
    }

    fn elements<T, const N: usize>(&mut self, n: usize, f: impl Fn([u8; N]) -> T) -> PrimitiveResult<Vec<T>> {
        let bytes = self.take(n * N, "tensor elements")?;
        Ok(bytes.chunks_exact(N).map(|chunk| f(chunk.try_into().unwrap_or([0; N]))).collect())
    }
}

fn dtype(code: u8) -> PrimitiveResult<DType> {
    let all = [
        DType::Float32,
        DType::Float64,
        DType::Int64,
        DType::Int32,
        DType::Int8,
        DType::Uint8,
        DType::Bool,
        DType::String,
    ];
    all.into_iter().find(|d| d.code() == code).ok_or_else(|| error(format!("unknown dtype code {code}")))
}

fn tensor(r: &mut Reader<'_>, name: &str) -> PrimitiveResult<Tensor> {
    let dtype = dtype(r.byte("dtype")?)?;
    let rank = r.u64("rank")?;
    if rank > MAX_RANK {
        return Err(error(format!("tensor `{name}` has rank {rank}, over {MAX_RANK}")));
    }
    let shape: Vec<u64> = (0..rank).map(|_| r.u64("dimension")).collect::<PrimitiveResult<_>>()?;
    let count = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    // Every element takes at least one byte, so the count must fit in what is left.
    let n = count
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= r.left())
        .ok_or_else(|| error(format!("tensor `{name}` of shape {shape:?} does not fit in the bytes left")))?;
    let data = match dtype {
        DType::Float32 => TensorData::Float32(r.elements(n, |b| f32::from_bits(u32::from_le_bytes(b)))?),
        DType::Float64 => TensorData::Float64(r.elements(n, |b| f64::from_bits(u64::from_le_bytes(b)))?),
        DType::Int64 => TensorData::Int64(r.elements(n, i64::from_le_bytes)?),
        DType::Int32 => TensorData::Int32(r.elements(n, i32::from_le_bytes)?),
        DType::Int8 => TensorData::Int8(r.elements(n, i8::from_le_bytes)?),
        DType::Uint8 => TensorData::Uint8(r.take(n, "tensor elements")?.to_vec()),
        DType::Bool => TensorData::Bool(
            r.take(n, "tensor elements")?
                .iter()
                .map(|&b| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    other => Err(error(format!("tensor `{name}`: bool element {other} is neither 0 nor 1"))),
                })
                .collect::<PrimitiveResult<_>>()?,
        ),
        DType::String => {
            TensorData::String((0..n).map(|_| r.string("string element")).collect::<PrimitiveResult<_>>()?)
        }
    };
    Tensor::new(name, shape, data)
}

fn maps<K: Ord>(
    r: &mut Reader<'_>,
    key: impl Fn(&mut Reader<'_>) -> PrimitiveResult<K>,
) -> PrimitiveResult<Vec<BTreeMap<K, f32>>> {
    let n = r.count(8, "map count")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        // An entry is a key (at least 8 bytes) and a 4-byte score.
        let entries = r.count(12, "map size")?;
        let mut map = BTreeMap::new();
        for _ in 0..entries {
            let k = key(r)?;
            map.insert(k, f32::from_bits(u32::from_le_bytes(r.array("map score")?)));
        }
        out.push(map);
    }
    Ok(out)
}

/// Decodes the canonical bytes of named values. The error names what is wrong and where; bytes
/// that are not the one canonical encoding of what they decode to are refused.
pub fn values_from_canonical(bytes: &[u8]) -> PrimitiveResult<Values> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(VALUES_MAGIC.len(), "magic")? != VALUES_MAGIC {
        return Err(error("the bytes do not start with the values magic `VRTVAL\\0\\x01`"));
    }
    // A value is at least a name length (8), a kind byte and a body (8).
    let count = r.count(17, "value count")?;
    let mut values = Values::new();
    for _ in 0..count {
        let name = r.string("value name")?;
        let value = match r.byte("value kind")? {
            1 => Value::Tensor(tensor(&mut r, &name)?),
            2 => Value::Int64Maps(maps(&mut r, |r| Ok(i64::from_le_bytes(r.array("map key")?)))?),
            3 => Value::StringMaps(maps(&mut r, |r| r.string("map key"))?),
            kind => return Err(error(format!("value `{name}` has unknown kind {kind}"))),
        };
        if values.insert(name.clone(), value).is_some() {
            return Err(error(format!("value `{name}` appears twice")));
        }
    }
    if r.left() > 0 {
        return Err(error(format!("{} bytes follow the last value", r.left())));
    }
    if canonical_bytes(&values) != bytes {
        return Err(error("the bytes are not in canonical form (names and map keys must be in order, once each)"));
    }
    Ok(values)
}
