//! Tests of tensor values: JSON parsing, errors, canonical bytes.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn check_nested(dtype: DType, json: Json, expected: Result<(Vec<u64>, TensorData), &str>) {
    let got = Tensor::from_nested_json("x", dtype, &json);
    match (got, expected) {
        (Ok(t), Ok((shape, data))) => assert_eq!((t.shape, t.data), (shape, data)),
        (Err(err), Err(msg)) => assert!(err.to_string().contains(msg), "{err} does not contain {msg:?}"),
        (got, expected) => panic!("{json}: got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn nested_json() {
    use DType::*;
    check_nested(
        Float32,
        json!([[5.1, 3.5, 1.4, 0.2]]),
        Ok((vec![1, 4], TensorData::Float32(vec![5.1, 3.5, 1.4, 0.2]))),
    );
    check_nested(Int64, json!([1, 2, 3]), Ok((vec![3], TensorData::Int64(vec![1, 2, 3]))));
    check_nested(Float32, json!(7), Ok((vec![], TensorData::Float32(vec![7.0]))));
    check_nested(String, json!([["a"], ["b"]]), Ok((vec![2, 1], TensorData::String(vec!["a".into(), "b".into()]))));
    check_nested(Bool, json!([true, false]), Ok((vec![2], TensorData::Bool(vec![true, false]))));
    check_nested(Float32, json!([[1.0, 2.0], [3.0]]), Err("ragged array"));
    check_nested(Float32, json!([[1.0, 2.0], 3.0]), Err("ragged array"));
    check_nested(Float32, json!([1.0, "a"]), Err("element 1: expected a number, got the string \"a\""));
    check_nested(Float32, json!([1e39]), Err("out of range for float32"));
    check_nested(Int64, json!([1.5]), Err("expected an integer, got 1.5"));
    check_nested(Int8, json!([300]), Err("300 is out of range for int8"));
    check_nested(Float32, json!([null]), Err("expected a number, got null"));
    check_nested(Float32, json!(["-Infinity"]), Ok((vec![1], TensorData::Float32(vec![f32::NEG_INFINITY]))));
}

#[test]
fn nan_is_parsed_and_found() {
    let t = Tensor::from_nested_json("x", DType::Float32, &json!([1.0, "NaN"])).unwrap();
    assert_eq!(t.data.first_non_finite(), Some(1));
}

#[test]
fn typed_json_round_trip() {
    let mut values = Values::new();
    values.insert("probabilities".into(), Value::Int64Maps(vec![[(0, 0.9f32), (1, 0.1f32)].into_iter().collect()]));
    values.insert("label".into(), Value::Tensor(Tensor::new("label", vec![1], TensorData::Int64(vec![0])).unwrap()));
    values.insert("names".into(), Value::StringMaps(vec![[("setosa".to_owned(), 0.25f32)].into_iter().collect()]));
    let json = values_to_json(&values);
    assert_eq!(
        json,
        json!({
            "label": {"dtype": "int64", "shape": [1], "data": [0]},
            "names": {"dtype": "seq(map(string,float32))", "data": [{"setosa": 0.25}]},
            "probabilities": {"dtype": "seq(map(int64,float32))", "data": [{"0": 0.9, "1": 0.1}]},
        })
    );
    assert_eq!(values_from_json(&json).unwrap(), values);
}

#[test]
fn typed_json_errors() {
    let check = |json: Json, msg: &str| {
        let err = Value::from_json("t", &json).unwrap_err().to_string();
        assert!(err.contains(msg), "{err} does not contain {msg:?}");
    };
    check(json!({"dtype": "float16", "data": [1]}), "unknown dtype \"float16\"");
    check(json!({"dtype": "float32", "shape": [2], "data": [1]}), "needs 2 elements, got 1");
    check(json!({"dtype": "float32", "data": [[1]]}), "data must be flat");
    check(json!({"dtype": "float32", "data": [1], "extra": 1}), "unknown field");
    check(json!({"dtype": "seq(map(int64,float32))", "data": [{"a": 1}]}), "key \"a\" is not an int64");
}

#[test]
fn canonical_bytes_are_stable() {
    let mut values = Values::new();
    values.insert(
        "float_input".into(),
        Value::Tensor(Tensor::new("float_input", vec![1, 2], TensorData::Float32(vec![1.0, -0.5])).unwrap()),
    );
    expect_test::expect![[r#"
        56525456414c000101000000000000000b00000000000000666c6f61745f696e70757401010200000000000000010000000000000002000000000000000000803f000000bf
    "#]]
    .assert_eq(&format!("{}\n", alloy_primitives::hex::encode(canonical_bytes(&values))));
}

fn arb_value() -> impl Strategy<Value = super::Value> {
    prop_oneof![
        prop::collection::vec(any::<f32>(), 0..8).prop_map(|v| {
            super::Value::Tensor(Tensor { shape: vec![v.len() as u64], data: TensorData::Float32(v) })
        }),
        prop::collection::vec(any::<i64>(), 0..8).prop_map(|v| {
            super::Value::Tensor(Tensor { shape: vec![1, v.len() as u64], data: TensorData::Int64(v) })
        }),
        prop::collection::vec(".{0,6}", 0..4).prop_map(|v| {
            super::Value::Tensor(Tensor { shape: vec![v.len() as u64], data: TensorData::String(v) })
        }),
        prop::collection::vec(prop::collection::btree_map(any::<i64>(), any::<f32>(), 0..4), 0..3)
            .prop_map(super::Value::Int64Maps),
    ]
}

fn same_bits(a: &Values, b: &Values) -> bool {
    canonical_bytes(a) == canonical_bytes(b)
}

proptest! {
    #[test]
    fn json_round_trip_keeps_every_bit(values in prop::collection::btree_map("[a-z]{1,5}", arb_value(), 0..4)) {
        let json = serde_json::to_string(&values_to_json(&values)).unwrap();
        let back = values_from_json(&serde_json::from_str(&json).unwrap()).unwrap();
        prop_assert!(same_bits(&values, &back), "{json}");
    }

    #[test]
    fn different_values_hash_differently(a in arb_value(), b in arb_value()) {
        let one: Values = [("x".to_owned(), a)].into_iter().collect();
        let two: Values = [("x".to_owned(), b)].into_iter().collect();
        prop_assert_eq!(same_bits(&one, &two), values_hash(&one) == values_hash(&two));
    }
}
