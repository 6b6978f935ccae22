//! Runs every example model through ONNX Runtime and compares with what onnxruntime from PyPI
//! answered (`examples/models/*.expected.json`, written by `make_models.py`).

use std::path::PathBuf;

use serde_json::Value as Json;
use veritas_primitives::{ModelId, TensorData, Value, Values};
use veritas_runtime::{OnnxRuntime, RuntimeError, init_onnxruntime, inspect_onnx, parse_inputs};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

fn init() {
    let path = std::env::var("ORT_DYLIB_PATH")
        .expect("ORT_DYLIB_PATH must name libonnxruntime; `cargo xtask test` fetches it and sets it");
    init_onnxruntime(path.as_ref()).unwrap();
}

fn read_json(name: &str) -> Json {
    serde_json::from_str(&std::fs::read_to_string(examples().join(name)).unwrap()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + b.abs())
}

/// Compares our output with onnxruntime-python's plain JSON (nested lists, or lists of dicts).
fn assert_matches(name: &str, got: &Value, expected: &Json) {
    match got {
        Value::Tensor(t) => {
            let flat: Vec<Json> = flatten(expected);
            assert_eq!(flat.len(), t.data.len(), "{name}: element count");
            for (i, want) in flat.iter().enumerate() {
                let ok = match (&t.data, want) {
                    (TensorData::Float32(v), Json::Number(n)) => close(f64::from(v[i]), n.as_f64().unwrap()),
                    (TensorData::Int64(v), Json::Number(n)) => v[i] == n.as_i64().unwrap(),
                    (TensorData::String(v), Json::String(s)) => &v[i] == s,
                    _ => false,
                };
                assert!(ok, "{name}[{i}]: got {:?}, expected {want}", t.data);
            }
        }
        Value::Int64Maps(maps) => {
            let expected = expected.as_array().unwrap();
            assert_eq!(maps.len(), expected.len());
            for (map, want) in maps.iter().zip(expected) {
                for (k, v) in map {
                    assert!(close(f64::from(*v), want[k.to_string()].as_f64().unwrap()), "{name}: label {k}");
                }
            }
        }
        Value::StringMaps(maps) => {
            let expected = expected.as_array().unwrap();
            assert_eq!(maps.len(), expected.len());
            for (map, want) in maps.iter().zip(expected) {
                assert_eq!(map.len(), want.as_object().unwrap().len());
                for (k, v) in map {
                    assert!(close(f64::from(*v), want[k].as_f64().unwrap()), "{name}: label {k}");
                }
            }
        }
    }
}

fn flatten(json: &Json) -> Vec<Json> {
    match json {
        Json::Array(items) => items.iter().flat_map(flatten).collect(),
        leaf => vec![leaf.clone()],
    }
}

fn run_example(runtime: &OnnxRuntime, name: &str) -> Values {
    let bytes = std::fs::read(examples().join(format!("{name}.onnx"))).unwrap();
    let inspection = inspect_onnx(&bytes).unwrap();
    let id = ModelId::of_manifest(name.as_bytes());
    runtime.load(&id, &bytes).unwrap();
    let inputs = parse_inputs(&inspection.schema, &read_json(&format!("{name}.input.json"))).unwrap();
    let outputs = runtime.run(&id, &inputs).unwrap();
    let names: Vec<_> = inspection.schema.outputs.iter().map(|o| o.name.clone()).collect();
    assert_eq!(outputs.keys().cloned().collect::<Vec<_>>().len(), names.len());
    outputs
}

#[test]
fn every_example_matches_onnxruntime_python() {
    init();
    let runtime = OnnxRuntime::new(Some(1));
    for name in ["iris-logreg", "iris-svm", "diabetes-gbr", "mnist-mlp", "mnist-cnn"] {
        let outputs = run_example(&runtime, name);
        let expected = read_json(&format!("{name}.expected.json"));
        let expected = expected.as_object().unwrap();
        assert_eq!(outputs.len(), expected.len(), "{name}: outputs");
        for (output, value) in &outputs {
            assert_matches(&format!("{name}.{output}"), value, &expected[output]);
        }
    }
}

#[test]
fn schemas_are_read_from_the_model() {
    init();
    let bytes = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let schema = inspect_onnx(&bytes).unwrap().schema;
    let text = serde_json::to_string(&schema).unwrap();
    assert_eq!(
        text,
        r#"{"inputs":[{"name":"float_input","dtype":"float32","shape":[null,4]}],"outputs":[{"name":"output_label","dtype":"int64","shape":[null]},{"name":"output_probability","dtype":"seq(map(int64,float32))","shape":[]}]}"#
    );
}

#[test]
fn sessions_are_cached() {
    init();
    let runtime = OnnxRuntime::new(Some(1));
    let id = ModelId::of_manifest(b"cache");
    assert!(!runtime.is_loaded(&id));
    let bytes = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    runtime.load(&id, &bytes).unwrap();
    assert!(runtime.is_loaded(&id));
    let err = runtime.run(&ModelId::of_manifest(b"other"), &Values::new()).unwrap_err();
    assert!(err.to_string().contains("is not loaded"), "{err}");
}

#[test]
fn non_onnx_and_corrupt_files_are_refused() {
    init();
    let good = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    for bad in [b"not a model at all".to_vec(), good[..good.len() / 2].to_vec(), vec![]] {
        let err = inspect_onnx(&bad).unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidModel(_)), "{err}");
    }
}

/// Past its capacity the runtime drops the least recently used session; a run on it says
/// so (and the node loads it again), and the others keep running.
#[test]
fn sessions_past_the_capacity_are_dropped_least_recently_used_first() {
    init();
    let runtime = OnnxRuntime::with_capacity(Some(1), 2);
    let bytes = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let ids: Vec<ModelId> = (0..3u8).map(|i| ModelId::of_manifest(&[i])).collect();
    let inputs = parse_inputs(
        &inspect_onnx(&bytes).unwrap().schema,
        &serde_json::json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
    )
    .unwrap();
    runtime.load(&ids[0], &bytes).unwrap();
    runtime.load(&ids[1], &bytes).unwrap();
    runtime.run(&ids[0], &inputs).unwrap();
    runtime.load(&ids[2], &bytes).unwrap();
    assert_eq!(runtime.loaded(), 2);
    assert!(runtime.is_loaded(&ids[0]), "used last, kept");
    assert!(!runtime.is_loaded(&ids[1]), "least recently used, dropped");
    assert!(matches!(runtime.run(&ids[1], &inputs), Err(RuntimeError::NotLoaded(id)) if id == ids[1]));
    runtime.run(&ids[2], &inputs).unwrap();
}
