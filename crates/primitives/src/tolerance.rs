//! Per-model tolerances for float re-execution, and the comparison of claimed outputs with
//! re-executed ones within a tolerance.
//!
//! Where execution is deterministic (ONNX Runtime on the CPU, one build, one thread count) the
//! outputs must hash the same and no tolerance is declared. A model whose validators may run on
//! other hardware or builds (GPUs, another ORT version) declares one in its manifest, so it is part
//! of the model id and the worker's claim signs it. Then a float element `a` (claimed) agrees with
//! `b` (re-executed) when `|a − b| <= abs + rel·|b|`; NaN agrees only with NaN and an infinity only
//! with the same infinity. Everything that is not a float (integers, strings, booleans, map keys,
//! names, dtypes, shapes) must still be exactly equal.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

use crate::{Tensor, TensorData, Value, Values};

/// How far a re-executed float may be from the claimed one: `|a − b| <= abs + rel·|b|`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// The absolute part.
    pub abs: f64,
    /// The part relative to the re-executed value.
    pub rel: f64,
}

// A checked tolerance holds two finite numbers, for which `==` is an equivalence; the manifests
// that carry one are compared with `Eq`.
impl Eq for Tolerance {}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "abs {:?} + rel {:?}", self.abs, self.rel)
    }
}

impl Tolerance {
    /// A checked tolerance (see [`Tolerance::check`]).
    pub fn new(abs: f64, rel: f64) -> Result<Tolerance, String> {
        let tolerance = Tolerance { abs, rel };
        tolerance.check()?;
        Ok(tolerance)
    }

    /// Both parts finite and non-negative, not both zero (a zero tolerance is no tolerance: leave
    /// it out and the outputs must be exact). The error names the field.
    pub fn check(&self) -> Result<(), String> {
        for (field, x) in [("abs", self.abs), ("rel", self.rel)] {
            if !x.is_finite() {
                return Err(format!("tolerance.{field} must be a finite number, got {x}"));
            }
            if x < 0.0 {
                return Err(format!("tolerance.{field} must not be negative, got {x}"));
            }
        }
        if self.abs == 0.0 && self.rel == 0.0 {
            return Err(
                "tolerance.abs and tolerance.rel are both 0: leave the tolerance out to require exact outputs".into()
            );
        }
        Ok(())
    }

    /// Whether a claimed float agrees with the re-executed one.
    pub fn agrees(&self, claimed: f64, reexecuted: f64) -> bool {
        if claimed.is_nan() || reexecuted.is_nan() {
            return claimed.is_nan() && reexecuted.is_nan();
        }
        if claimed.is_infinite() || reexecuted.is_infinite() {
            return claimed == reexecuted;
        }
        (claimed - reexecuted).abs() <= self.abs + self.rel * reexecuted.abs()
    }
}

/// Claimed outputs that agree with the re-executed ones within a tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agreement {
    /// The float elements compared (tensor elements and map scores).
    pub floats: usize,
    /// The largest `|claimed − re-executed|` over the finite float elements.
    pub max_abs_diff: f64,
}

/// Compares claimed outputs with re-executed ones: the same names, kinds, dtypes and shapes; the
/// same elements where they are not floats (and the same map keys); floats within `tolerance`.
/// The error names the first element that differs, for people.
pub fn compare_within(claimed: &Values, reexecuted: &Values, tolerance: &Tolerance) -> Result<Agreement, String> {
    if let Some(name) = claimed.keys().find(|name| !reexecuted.contains_key(*name)) {
        return Err(format!("output `{name}` is claimed, but the model does not produce it"));
    }
    let mut agreement = Agreement { floats: 0, max_abs_diff: 0.0 };
    for (name, again) in reexecuted {
        let Some(claim) = claimed.get(name) else {
            return Err(format!("output `{name}` is missing from the claimed outputs"));
        };
        let mut compare = Compare { name, tolerance, agreement: &mut agreement };
        match (claim, again) {
            (Value::Tensor(claim), Value::Tensor(again)) => compare.tensors(claim, again)?,
            (Value::Int64Maps(claim), Value::Int64Maps(again)) => compare.maps(claim, again)?,
            (Value::StringMaps(claim), Value::StringMaps(again)) => compare.maps(claim, again)?,
            (claim, again) => {
                return Err(format!("output `{name}`: claimed {}, re-executed {}", kind(claim), kind(again)));
            }
        }
    }
    Ok(agreement)
}

fn kind(value: &Value) -> String {
    match value {
        Value::Tensor(tensor) => format!("a {} tensor", tensor.data.dtype()),
        Value::Int64Maps(_) => "a sequence of int64-keyed maps".into(),
        Value::StringMaps(_) => "a sequence of string-keyed maps".into(),
    }
}

/// The row-major index `flat` in `shape`, as `[i, j, …]`.
fn position(shape: &[u64], flat: usize) -> String {
    let mut rest = flat as u64;
    let mut index = vec![0u64; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        if dim > 0 {
            *slot = rest % dim;
            rest /= dim;
        }
    }
    let parts: Vec<String> = index.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

struct Compare<'a> {
    name: &'a str,
    tolerance: &'a Tolerance,
    agreement: &'a mut Agreement,
}

impl Compare<'_> {
    fn tensors(&mut self, claim: &Tensor, again: &Tensor) -> Result<(), String> {
        let name = self.name;
        let (claimed_dtype, dtype) = (claim.data.dtype(), again.data.dtype());
        if claimed_dtype != dtype {
            return Err(format!("output `{name}`: claimed {claimed_dtype} elements, re-executed {dtype}"));
        }
        if claim.shape != again.shape || claim.data.len() != again.data.len() {
            return Err(format!(
                "output `{name}`: claimed shape {:?} ({} elements), re-executed shape {:?} ({} elements)",
                claim.shape,
                claim.data.len(),
                again.shape,
                again.data.len()
            ));
        }
        let at = |i| position(&again.shape, i);
        match (&claim.data, &again.data) {
            (TensorData::Float32(a), TensorData::Float32(b)) => self.floats(a, b, at),
            (TensorData::Float64(a), TensorData::Float64(b)) => self.floats(a, b, at),
            (TensorData::Int64(a), TensorData::Int64(b)) => self.exact(a, b, at),
            (TensorData::Int32(a), TensorData::Int32(b)) => self.exact(a, b, at),
            (TensorData::Int8(a), TensorData::Int8(b)) => self.exact(a, b, at),
            (TensorData::Uint8(a), TensorData::Uint8(b)) => self.exact(a, b, at),
            (TensorData::Bool(a), TensorData::Bool(b)) => self.exact(a, b, at),
            (TensorData::String(a), TensorData::String(b)) => self.exact(a, b, at),
            // The dtypes are equal, so the variants are.
            _ => Err(format!("output `{name}`: claimed {claimed_dtype} elements, re-executed {dtype}")),
        }
    }

    fn exact<T: PartialEq + fmt::Debug>(
        &self,
        claimed: &[T],
        again: &[T],
        at: impl Fn(usize) -> String,
    ) -> Result<(), String> {
        match claimed.iter().zip(again).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(format!(
                "output `{}`{}: claimed {:?}, re-executed {:?} (not a float: must be equal)",
                self.name,
                at(i),
                claimed[i],
                again[i]
            )),
        }
    }

    fn floats<T: Copy + Into<f64> + fmt::Debug>(
        &mut self,
        claimed: &[T],
        again: &[T],
        at: impl Fn(usize) -> String,
    ) -> Result<(), String> {
        for (i, (&a, &b)) in claimed.iter().zip(again).enumerate() {
            self.float(a, b, || at(i))?;
        }
        Ok(())
    }

    fn float<T: Copy + Into<f64> + fmt::Debug>(
        &mut self,
        claimed: T,
        again: T,
        at: impl FnOnce() -> String,
    ) -> Result<(), String> {
        let (a, b) = (claimed.into(), again.into());
        if !self.tolerance.agrees(a, b) {
            return Err(format!(
                "output `{}`{}: claimed {claimed:?}, re-executed {again:?}, beyond {}",
                self.name,
                at(),
                self.tolerance
            ));
        }
        self.agreement.floats += 1;
        if a.is_finite() && b.is_finite() {
            self.agreement.max_abs_diff = self.agreement.max_abs_diff.max((a - b).abs());
        }
        Ok(())
    }

    fn maps<K: Ord + fmt::Debug>(
        &mut self,
        claimed: &[BTreeMap<K, f32>],
        again: &[BTreeMap<K, f32>],
    ) -> Result<(), String> {
        let name = self.name;
        if claimed.len() != again.len() {
            return Err(format!("output `{name}`: claimed {} maps, re-executed {}", claimed.len(), again.len()));
        }
        for (i, (claim, again)) in claimed.iter().zip(again).enumerate() {
            if !claim.keys().eq(again.keys()) {
                return Err(format!(
                    "output `{name}`[{i}]: claimed keys {:?}, re-executed keys {:?}",
                    claim.keys().collect::<Vec<_>>(),
                    again.keys().collect::<Vec<_>>()
                ));
            }
            for ((key, &a), &b) in claim.iter().zip(again.values()) {
                self.float(a, b, || format!("[{i}][{key:?}]"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
