//! The example MNIST networks: float executor against onnxruntime's answers, and quantized
//! against float on scikit-learn's digits.

use std::path::PathBuf;

use serde_json::Value;
use veritas_quant::QuantizedModel;
use veritas_quantize::{FloatModel, accuracy::argmax, compare, import, quantize};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(examples().join(format!("{name}.onnx"))).expect("example model")
}

fn flatten(value: &Value, out: &mut Vec<f32>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Number(n) => out.push(n.as_f64().expect("number") as f32),
        other => panic!("unexpected {other}"),
    }
}

fn json_values(name: &str, suffix: &str) -> Vec<f32> {
    let text = std::fs::read_to_string(examples().join(format!("{name}.{suffix}.json"))).expect("json file");
    let value: Value = serde_json::from_str(&text).expect("json");
    let object = value.as_object().expect("object");
    let mut out = vec![];
    flatten(object.values().next().expect("one entry"), &mut out);
    out
}

/// The digits of `tests/data/digits.json`, upscaled like make_models.py's `digits_28x28()`.
fn digits() -> (Vec<Vec<f32>>, Vec<usize>) {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits.json"))
        .expect("digits.json");
    let value: Value = serde_json::from_str(&text).expect("json");
    let images = value["images"].as_array().expect("images");
    let labels = value["labels"].as_array().expect("labels").iter().map(|v| v.as_u64().expect("label") as usize);
    let upscaled = images
        .iter()
        .map(|image| {
            let pixels: Vec<f32> =
                image.as_array().expect("image").iter().map(|v| v.as_f64().expect("pixel") as f32 / 16.0).collect();
            let mut big = vec![0.0f32; 28 * 28];
            for y in 0..24 {
                for x in 0..24 {
                    big[(y + 2) * 28 + x + 2] = pixels[(y / 3) * 8 + x / 3];
                }
            }
            big
        })
        .collect();
    (upscaled, labels.collect())
}

fn check_float(name: &str) {
    let model = import(&model_bytes(name)).expect("imports");
    let got = model.run(&json_values(name, "input")).expect("runs");
    let expected = json_values(name, "expected");
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{name}: got {got:?}, expected {expected:?}");
    }
}

#[test]
fn float_executor_matches_onnxruntime() {
    check_float("mnist-mlp");
    check_float("mnist-cnn");
}

/// Calibrates on the even-indexed digits, evaluates on all 200.
fn quantized(name: &str) -> (FloatModel, QuantizedModel, Vec<Vec<f32>>, Vec<usize>) {
    let (images, labels) = digits();
    let calibration: Vec<Vec<f32>> = images.iter().step_by(2).cloned().collect();
    let bytes = model_bytes(name);
    (import(&bytes).expect("imports"), quantize(&bytes, &calibration).expect("quantizes"), images, labels)
}

fn check_accuracy(name: &str) {
    let (float, quantized, images, labels) = quantized(name);
    let report = compare(&float, &quantized, &images).expect("compares");
    let float_correct = images.iter().zip(&labels).filter(|(x, l)| argmax(&float.run(x).expect("runs")) == **l).count();
    eprintln!("{name}: {report:?}, float correct {float_correct}/{}", images.len());
    assert!(report.agreement() >= 0.95, "{name}: {report:?}");
    assert!(report.max_abs_error <= 0.1 * report.max_abs_float, "{name}: {report:?}");
}

#[test]
fn quantized_mlp_agrees_with_float() {
    check_accuracy("mnist-mlp");
}

#[test]
fn quantized_cnn_agrees_with_float() {
    check_accuracy("mnist-cnn");
}

#[test]
fn quantized_model_round_trips_through_json_and_runs_deterministically() {
    let (_, quantized, images, _) = quantized("mnist-cnn");
    let json = serde_json::to_string(&quantized).expect("serializes");
    let back: QuantizedModel = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, quantized);
    let input = quantized.quantize_input(&images[3]);
    let trace = quantized.run_trace(&input).expect("runs");
    assert_eq!(trace.len(), quantized.layers.len() + 1);
    assert_eq!(back.run(&input).expect("runs"), trace[quantized.output]);
    assert_eq!(quantized.run(&input).expect("runs"), trace[quantized.output]);
}

#[test]
fn cnn_structure_fuses_relu_and_views_flatten() {
    let (_, quantized, _, _) = quantized("mnist-cnn");
    let kinds: Vec<&str> = quantized
        .layers
        .iter()
        .map(|l| match &l.op {
            veritas_quant::QuantOp::Conv { relu: true, .. } => "conv+relu",
            veritas_quant::QuantOp::MaxPool { .. } => "maxpool",
            veritas_quant::QuantOp::Linear { relu: false, .. } => "linear",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["conv+relu", "maxpool", "conv+relu", "maxpool", "linear"]);
    assert_eq!(quantized.input_shape, [1, 28, 28]);
    assert_eq!(quantized.layers[4].shape, [10]);
}

/// The statement's values, pinned: a change to calibration or integer semantics changes these.
#[test]
fn quantized_outputs_are_pinned() {
    for (name, expected) in [("mnist-mlp", PINNED_MLP), ("mnist-cnn", PINNED_CNN)] {
        let (_, quantized, _, _) = quantized(name);
        let input = quantized.quantize_input(&json_values(name, "input"));
        let output = quantized.run(&input).expect("runs");
        assert_eq!(output, expected, "{name}");
    }
}

const PINNED_MLP: [i8; 10] = [78, -55, -27, -25, -22, -2, -2, -13, -20, 1];
const PINNED_CNN: [i8; 10] = [-38, 93, -12, -17, 19, -19, -3, -38, 27, -13];
