//! Checking a request's JSON inputs against a model's schema.

use serde_json::Value as Json;
use veritas_primitives::{DType, Schema, Tensor, TensorSpec, Value, Values};

use crate::{RuntimeError, RuntimeResult};

fn input_err(message: String) -> RuntimeError {
    RuntimeError::Input(message)
}

fn dtype_of(spec: &TensorSpec) -> RuntimeResult<DType> {
    serde_json::from_value(Json::String(spec.dtype.clone())).map_err(|_| {
        input_err(format!("input {:?} has type {}, which this runtime cannot feed", spec.name, spec.dtype))
    })
}

/// Parses a JSON object of named inputs, each either nested arrays (`[[5.1, 3.5]]`, typed by the
/// schema) or the typed form `{"dtype", "shape", "data"}`. Every input of the schema must be
/// present with its type and a shape that fits; non-finite numbers are refused.
pub fn parse_inputs(schema: &Schema, json: &Json) -> RuntimeResult<Values> {
    let Json::Object(given) = json else {
        return Err(input_err("inputs must be a JSON object of named tensors".into()));
    };
    let expected: Vec<&str> = schema.inputs.iter().map(|s| s.name.as_str()).collect();
    if let Some(unknown) = given.keys().find(|name| !expected.contains(&name.as_str())) {
        return Err(input_err(format!("unknown input tensor {unknown:?}; the model takes {expected:?}")));
    }
    let mut values = Values::new();
    for spec in &schema.inputs {
        let Some(json) = given.get(&spec.name) else {
            return Err(input_err(format!(
                "missing input tensor {:?} ({} {})",
                spec.name,
                spec.dtype,
                spec.shape_text()
            )));
        };
        let dtype = dtype_of(spec)?;
        let tensor = if json.get("dtype").is_some() {
            match Value::from_json(&spec.name, json).map_err(|err| input_err(err.to_string()))? {
                Value::Tensor(t) if t.data.dtype() == dtype => t,
                Value::Tensor(t) => {
                    return Err(input_err(format!(
                        "tensor {:?}: expected dtype {dtype}, got {}",
                        spec.name,
                        t.data.dtype()
                    )));
                }
                _ => {
                    return Err(input_err(format!("tensor {:?}: expected a {dtype} tensor", spec.name)));
                }
            }
        } else {
            Tensor::from_nested_json(&spec.name, dtype, json).map_err(|err| input_err(err.to_string()))?
        };
        check_shape(spec, &tensor)?;
        if let Some(index) = tensor.data.first_non_finite() {
            return Err(input_err(format!(
                "tensor {:?}: element {index} is NaN or infinite, which this model does not accept",
                spec.name
            )));
        }
        values.insert(spec.name.clone(), Value::Tensor(tensor));
    }
    Ok(values)
}

fn check_shape(spec: &TensorSpec, tensor: &Tensor) -> RuntimeResult<()> {
    let fits = tensor.shape.len() == spec.shape.len()
        && tensor.shape.iter().zip(&spec.shape).all(|(got, want)| want.is_none_or(|want| want == *got));
    if fits {
        Ok(())
    } else {
        Err(input_err(format!("tensor {:?}: expected shape {}, got {:?}", spec.name, spec.shape_text(), tensor.shape)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Schema {
        Schema {
            inputs: vec![TensorSpec {
                name: "float_input".into(),
                dtype: "float32".into(),
                shape: vec![None, Some(4)],
            }],
            outputs: vec![],
        }
    }

    fn check(json: Json, expected: Result<Vec<u64>, &str>) {
        match (parse_inputs(&schema(), &json), expected) {
            (Ok(values), Ok(shape)) => match &values["float_input"] {
                Value::Tensor(t) => assert_eq!(t.shape, shape),
                other => panic!("{other:?}"),
            },
            (Err(err), Err(msg)) => assert!(err.to_string().contains(msg), "{err} does not contain {msg:?}"),
            (got, expected) => panic!("{json}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn inputs_against_the_schema() {
        check(json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}), Ok(vec![1, 4]));
        check(json!({"float_input": [[5.1, 3.5, 1.4, 0.2], [1, 2, 3, 4]]}), Ok(vec![2, 4]));
        check(json!({"float_input": {"dtype": "float32", "shape": [1, 4], "data": [1, 2, 3, 4]}}), Ok(vec![1, 4]));
        check(json!({"float_inputs": [[1, 2, 3, 4]]}), Err("unknown input tensor \"float_inputs\""));
        check(json!({}), Err("missing input tensor \"float_input\" (float32 [?, 4])"));
        check(json!({"float_input": [[5.1, 3.5, 1.4]]}), Err("expected shape [?, 4], got [1, 3]"));
        check(json!({"float_input": [5.1, 3.5, 1.4, 0.2]}), Err("expected shape [?, 4], got [4]"));
        check(json!({"float_input": [["a", 3.5, 1.4, 0.2]]}), Err("expected a number, got the string \"a\""));
        check(
            json!({"float_input": {"dtype": "int64", "data": [1, 2, 3, 4]}}),
            Err("expected dtype float32, got int64"),
        );
        check(json!({"float_input": [["NaN", 3.5, 1.4, 0.2]]}), Err("element 0 is NaN or infinite"));
        check(json!({"float_input": [[1e39, 3.5, 1.4, 0.2]]}), Err("out of range for float32"));
        check(json!([1, 2]), Err("must be a JSON object"));
    }
}
