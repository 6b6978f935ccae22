//! Fuzz target: a request's JSON inputs checked against a model's schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::{Schema, TensorSpec, values::canonical_bytes};
use veritas_runtime::parse_inputs;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let schema = Schema {
        inputs: vec![
            TensorSpec { name: "x".into(), dtype: "float32".into(), shape: vec![None, Some(4)] },
            TensorSpec { name: "s".into(), dtype: "string".into(), shape: vec![None] },
            TensorSpec { name: "i".into(), dtype: "int8".into(), shape: vec![Some(2), None, Some(1)] },
        ],
        outputs: vec![],
    };
    if let Ok(values) = parse_inputs(&schema, &json) {
        let _ = canonical_bytes(&values);
    }
});
