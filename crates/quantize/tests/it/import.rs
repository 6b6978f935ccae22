//! Importer behaviour on small hand-built ONNX graphs: folding, every supported operator against
//! its float meaning, and clear errors on bad input.

use prost::Message;
use veritas_quant::{QuantError, QuantOp, QuantizedModel};
use veritas_quantize::{
    QuantizeError, import,
    onnx::{
        AttributeProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64, Dimension, GraphProto, ModelProto, NodeProto, TensorProto,
        TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
    },
    quantize,
};

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: format!("{op}_{output}"),
        op_type: op.into(),
        attribute,
        domain: String::new(),
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: values.to_vec(), r#type: 7, ..Default::default() }
}

fn floats(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DATA_TYPE_FLOAT,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims.iter().map(|&d| Dimension { dim_value: Some(d), dim_param: None }).collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto { elem_type: DATA_TYPE_FLOAT, shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

fn model(input_dims: &[i64], nodes: Vec<NodeProto>, initializer: Vec<TensorProto>, output: &str) -> Vec<u8> {
    let graph = GraphProto {
        node: nodes,
        initializer,
        input: vec![value_info("x", input_dims)],
        output: vec![value_info(output, &[1])],
    };
    ModelProto { graph: Some(graph) }.encode_to_vec()
}

fn ramp(n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) * scale).collect()
}

/// Calibrates on a few ramps and checks the dequantized output is near the float one.
fn check_close(bytes: &[u8], input_len: usize, tolerance: f32) -> QuantizedModel {
    let samples: Vec<Vec<f32>> = (1..6).map(|k| ramp(input_len, 0.1 * k as f32)).collect();
    let float = import(bytes).expect("imports");
    let quantized = quantize(bytes, &samples).expect("quantizes");
    for sample in &samples {
        let expected = float.run(sample).expect("float runs");
        let got = quantized.dequantize_output(&quantized.run(&quantized.quantize_input(sample)).expect("runs"));
        let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (e, g) in expected.iter().zip(&got) {
            assert!((e - g).abs() <= tolerance * scale, "expected {expected:?}, got {got:?}");
        }
    }
    quantized
}

#[test]
fn batch_norm_folds_into_conv() {
    let bn = |name: &str, v: [f32; 2]| floats(name, &[2], &v);
    let bytes = model(
        &[1, 1, 4, 4],
        vec![
            node("Conv", &["x", "w", "b"], "c", vec![ints("kernel_shape", &[3, 3]), ints("pads", &[1, 1, 1, 1])]),
            node("BatchNormalization", &["c", "gamma", "beta", "mean", "var"], "n", vec![]),
            node("Relu", &["n"], "y", vec![]),
        ],
        vec![
            floats("w", &[2, 1, 3, 3], &ramp(18, 0.1)),
            floats("b", &[2], &[0.1, -0.2]),
            bn("gamma", [2.0, 0.5]),
            bn("beta", [0.3, -0.1]),
            bn("mean", [0.05, 0.2]),
            bn("var", [4.0, 0.25]),
        ],
        "y",
    );
    let float = import(&bytes).expect("imports");
    assert_eq!(float.layers.len(), 1, "BatchNormalization and Relu fold into the Conv");
    // The first output pixel by hand: conv → BN → ReLU.
    let input = ramp(16, 0.2);
    let mut conv = 0.1;
    for (ky, kx) in [(1, 1), (1, 2), (2, 1), (2, 2)] {
        conv += ramp(18, 0.1)[ky * 3 + kx] * input[(ky - 1) * 4 + kx - 1];
    }
    let expected = ((conv - 0.05) * 2.0 / (4.0f32 + 1e-5).sqrt() + 0.3).max(0.0);
    assert!((float.run(&input).expect("runs")[0] - expected).abs() < 1e-5);
    check_close(&bytes, 16, 0.05);
}

#[test]
fn matmul_add_reshape_avgpool_and_residual_add() {
    let bytes = model(
        &[1, 2, 4, 4],
        vec![
            node("AveragePool", &["x"], "p", vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]),
            node("Reshape", &["p", "shape"], "f", vec![]),
            node("MatMul", &["f", "w"], "m", vec![]),
            node("Add", &["m", "b"], "h", vec![]),
            node("Relu", &["h"], "r", vec![]),
            node("MatMul", &["r", "w2"], "y0", vec![]),
            node("Add", &["y0", "r"], "y", vec![]),
        ],
        vec![
            TensorProto {
                name: "shape".into(),
                dims: vec![2],
                data_type: DATA_TYPE_INT64,
                int64_data: vec![1, -1],
                ..Default::default()
            },
            floats("w", &[8, 8], &ramp(64, 0.1)),
            floats("b", &[8], &ramp(8, 0.05)),
            floats("w2", &[8, 8], &ramp(64, 0.07)),
        ],
        "y",
    );
    let quantized = check_close(&bytes, 32, 0.06);
    let kinds: Vec<_> = quantized.layers.iter().map(|l| std::mem::discriminant(&l.op)).collect();
    assert_eq!(kinds.len(), 4, "avgpool, linear(+bias+relu), linear, add: {:?}", quantized.layers);
    assert!(matches!(quantized.layers[1].op, QuantOp::Linear { relu: true, .. }));
    assert!(matches!(quantized.layers[3].op, QuantOp::Add { a: 3, b: 2, .. }));
}

#[test]
fn gemm_with_trans_b_alpha_beta_and_standalone_relu() {
    let alpha = AttributeProto { name: "alpha".into(), f: 0.5, r#type: 1, ..Default::default() };
    let trans_b = AttributeProto { name: "transB".into(), i: 1, r#type: 2, ..Default::default() };
    let bytes = model(
        &[1, 3],
        vec![node("Relu", &["x"], "r", vec![]), node("Gemm", &["r", "w", "b"], "y", vec![alpha, trans_b])],
        vec![floats("w", &[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.5, 0.25]), floats("b", &[2], &[0.5, -0.5])],
        "y",
    );
    let got = import(&bytes).expect("imports").run(&[1.0, -2.0, 4.0]).expect("runs");
    assert_eq!(got, [0.5 * (1.0 + 12.0) + 0.5, 0.5 * (-1.0 + 1.0) - 0.5]);
    check_close(&bytes, 3, 0.05);
}

fn error(bytes: &[u8]) -> String {
    match quantize(bytes, &[vec![0.5; 3]]) {
        Ok(_) => panic!("accepted"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn bad_models_are_clear_errors() {
    assert!(error(b"\xff\xff\xff garbage").starts_with("model does not decode"));
    assert_eq!(error(&[]), "invalid model: model has no graph");
    let softmax = model(&[1, 3], vec![node("Softmax", &["x"], "y", vec![])], vec![], "y");
    assert_eq!(error(&softmax), "unsupported Softmax at node Softmax_y: operator not supported");
    let short =
        model(&[1, 3], vec![node("Gemm", &["x", "w"], "y", vec![])], vec![floats("w", &[3, 2], &[1.0; 5])], "y");
    assert_eq!(error(&short), "tensor w: expected 6 values, got 5");
    let shared = model(&[1, 3], vec![node("Add", &["x", "c"], "y", vec![])], vec![floats("c", &[3], &[1.0; 3])], "y");
    assert!(error(&shared).contains("unsupported Add"));
    let mut no_output = node("BatchNormalization", &["h", "g", "g", "g", "g"], "", vec![]);
    no_output.output.clear();
    let gemm = node("Gemm", &["x", "w"], "h", vec![]);
    let params = vec![floats("w", &[3, 1], &[1.0; 3]), floats("g", &[1], &[1.0])];
    let message = error(&model(&[1, 3], vec![gemm, no_output], params, "z"));
    assert!(message.contains("no output"), "{message}");
    let dynamic_weight = model(&[1, 3], vec![node("MatMul", &["x", "x"], "y", vec![])], vec![], "y");
    assert!(error(&dynamic_weight).contains("must be an initializer"));
}

#[test]
fn wrong_input_length_is_an_error() {
    let bytes = model(&[1, 3], vec![node("Relu", &["x"], "y", vec![])], vec![], "y");
    let quantized = quantize(&bytes, &[vec![1.0, -1.0, 0.5]]).expect("quantizes");
    assert!(matches!(quantized.run(&[1, 2]), Err(QuantError::InputLength { expected: 3, got: 2 })));
    assert!(matches!(
        import(&bytes).expect("imports").run(&[1.0; 4]),
        Err(QuantizeError::Quant(QuantError::InputLength { .. }))
    ));
    assert!(quantize(&bytes, &[vec![1.0; 2]]).is_err());
    assert!(quantize(&bytes, &[]).is_err());
}

#[test]
fn accumulator_overflow_is_rejected() {
    // 140,000 weights at the int8 maximum: 128 * 127 * 140,000 > 2^31.
    let n = 140_000;
    let bytes = model(
        &[1, n as i64],
        vec![node("MatMul", &["x", "w"], "y", vec![])],
        vec![floats("w", &[n as i64, 1], &vec![1.0; n])],
        "y",
    );
    assert!(matches!(
        quantize(&bytes, &[vec![1.0; n]]),
        Err(QuantizeError::Quant(QuantError::Accumulator { layer: 0, .. }))
    ));
}

#[test]
fn tampered_quantized_models_are_rejected_not_run() {
    let bytes =
        model(&[1, 3], vec![node("MatMul", &["x", "w"], "y", vec![])], vec![floats("w", &[3, 2], &ramp(6, 0.3))], "y");
    let good = quantize(&bytes, &[vec![1.0, -1.0, 0.5]]).expect("quantizes");
    let mut bad = good.clone();
    bad.output = 7;
    assert!(bad.run(&[1, 2, 3]).is_err());
    let mut bad = good.clone();
    if let QuantOp::Linear { weights, .. } = &mut bad.layers[0].op {
        weights.pop();
    }
    assert!(bad.run(&[1, 2, 3]).is_err());
    let mut bad = good.clone();
    if let QuantOp::Linear { requant, .. } = &mut bad.layers[0].op {
        requant.multiplier = 1;
    }
    assert!(bad.run(&[1, 2, 3]).is_err());
    let mut bad = good;
    if let QuantOp::Linear { input, .. } = &mut bad.layers[0].op {
        *input = 1;
    }
    assert!(bad.run(&[1, 2, 3]).is_err());
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
        let _ = quantize(&bytes, &[vec![0.0; 784]]);
    }
}
