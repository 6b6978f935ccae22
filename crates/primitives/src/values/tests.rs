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

fn every_kind() -> Values {
    let t = |shape: Vec<u64>, data| Value::Tensor(Tensor::new("t", shape, data).unwrap());
    Values::from([
        ("a_f32".to_owned(), t(vec![2, 2], TensorData::Float32(vec![1.5, -0.0, f32::NAN, f32::INFINITY]))),
        ("b_f64".to_owned(), t(vec![1], TensorData::Float64(vec![std::f64::consts::PI]))),
        ("c_i64".to_owned(), t(vec![3], TensorData::Int64(vec![i64::MIN, 0, i64::MAX]))),
        ("d_i32".to_owned(), t(vec![0], TensorData::Int32(vec![]))),
        ("e_i8".to_owned(), t(vec![2], TensorData::Int8(vec![-128, 127]))),
        ("f_u8".to_owned(), t(vec![1, 3], TensorData::Uint8(vec![0, 7, 255]))),
        ("g_bool".to_owned(), t(vec![2], TensorData::Bool(vec![true, false]))),
        ("h_str".to_owned(), t(vec![2], TensorData::String(vec!["".into(), "setosa ✓".into()]))),
        ("i_scalar".to_owned(), t(vec![], TensorData::Float32(vec![0.25]))),
        ("j_imaps".to_owned(), Value::Int64Maps(vec![BTreeMap::from([(0, 0.9), (2, 0.1)]), BTreeMap::new()])),
        ("k_smaps".to_owned(), Value::StringMaps(vec![BTreeMap::from([("a".to_owned(), 0.5)])])),
    ])
}

#[test]
fn canonical_bytes_decode_to_the_same_values_bit_for_bit() {
    for values in [Values::new(), every_kind()] {
        let bytes = canonical_bytes(&values);
        let decoded = values_from_canonical(&bytes).unwrap();
        assert_eq!(canonical_bytes(&decoded), bytes);
        assert_eq!(values_hash(&decoded), values_hash(&values));
    }
}

#[test]
fn bytes_that_are_not_canonical_values_are_refused_with_the_reason() {
    let good = canonical_bytes(&every_kind());
    let refused = |bytes: &[u8], expected: &str| {
        let err = values_from_canonical(bytes).unwrap_err().to_string();
        assert!(err.starts_with("malformed canonical values: ") && err.contains(expected), "{err}");
    };
    refused(b"", "magic needs 8 bytes");
    refused(b"VRTVAL\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00", "values magic");
    // Every strict prefix is refused (truncated), and so is a trailing byte.
    for cut in 0..good.len() {
        assert!(values_from_canonical(&good[..cut]).is_err(), "a prefix of {cut} bytes decoded");
    }
    refused(&[good.as_slice(), &[0]].concat(), "1 bytes follow the last value");
    // A huge count is refused before anything is allocated.
    let mut huge = VALUES_MAGIC.to_vec();
    huge.extend_from_slice(&u64::MAX.to_le_bytes());
    refused(&huge, "value count 18446744073709551615 at offset 8 does not fit");
    // One tensor of shape [2^32, 2^32] with no elements behind it.
    let mut overflow = VALUES_MAGIC.to_vec();
    overflow.extend_from_slice(&1u64.to_le_bytes());
    overflow.extend_from_slice(&1u64.to_le_bytes());
    overflow.extend_from_slice(b"x\x01\x01");
    overflow.extend_from_slice(&2u64.to_le_bytes());
    overflow.extend_from_slice(&(1u64 << 32).to_le_bytes());
    overflow.extend_from_slice(&(1u64 << 32).to_le_bytes());
    refused(&overflow, "tensor `x` of shape [4294967296, 4294967296] does not fit");
    // A bool that is neither 0 nor 1.
    let bools = Values::from([(
        "b".to_owned(),
        Value::Tensor(Tensor::new("b", vec![1], TensorData::Bool(vec![true])).unwrap()),
    )]);
    let mut two = canonical_bytes(&bools);
    *two.last_mut().unwrap() = 2;
    refused(&two, "bool element 2 is neither 0 nor 1");
    // Names out of order decode, but do not re-encode to the same bytes.
    let one = |name: &str| {
        canonical_bytes(&Values::from([(
            name.to_owned(),
            Value::Tensor(Tensor::new(name, vec![1], TensorData::Uint8(vec![1])).unwrap()),
        )]))
    };
    let (a, b) = (one("a"), one("b"));
    let mut swapped = VALUES_MAGIC.to_vec();
    swapped.extend_from_slice(&2u64.to_le_bytes());
    swapped.extend_from_slice(&b[16..]);
    swapped.extend_from_slice(&a[16..]);
    refused(&swapped, "not in canonical form");
    let mut twice = VALUES_MAGIC.to_vec();
    twice.extend_from_slice(&2u64.to_le_bytes());
    twice.extend_from_slice(&a[16..]);
    twice.extend_from_slice(&a[16..]);
    refused(&twice, "value `a` appears twice");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let mut prefixed = VALUES_MAGIC.to_vec();
        prefixed.extend_from_slice(&bytes);
        if let Ok(values) = values_from_canonical(&prefixed) {
            proptest::prop_assert_eq!(canonical_bytes(&values), prefixed);
        }
    }
}
