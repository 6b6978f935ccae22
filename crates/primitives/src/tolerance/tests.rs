//! Tests of tolerances and of the comparison of outputs within one.

use std::collections::BTreeMap;

use super::*;

fn tensor(shape: Vec<u64>, data: TensorData) -> Value {
    Value::Tensor(Tensor::new("t", shape, data).unwrap())
}

fn probabilities(p: Vec<f32>) -> Values {
    Values::from([
        ("label".to_owned(), tensor(vec![1], TensorData::Int64(vec![0]))),
        ("probabilities".to_owned(), tensor(vec![1, p.len() as u64], TensorData::Float32(p))),
    ])
}

const TOL: Tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };

fn fails(claimed: &Values, reexecuted: &Values, expected: &str) {
    let err = compare_within(claimed, reexecuted, &TOL).unwrap_err();
    assert!(err.contains(expected), "{err:?} does not contain {expected:?}");
}

#[test]
fn check_names_the_field() {
    Tolerance::new(1e-3, 0.0).unwrap();
    Tolerance::new(0.0, 1e-4).unwrap();
    for (abs, rel, expected) in [
        (f64::NAN, 0.1, "tolerance.abs must be a finite number"),
        (0.1, f64::INFINITY, "tolerance.rel must be a finite number"),
        (-1e-3, 0.0, "tolerance.abs must not be negative"),
        (1e-3, -0.5, "tolerance.rel must not be negative"),
        (0.0, 0.0, "both 0"),
    ] {
        let err = Tolerance::new(abs, rel).unwrap_err();
        assert!(err.contains(expected), "{abs} {rel}: {err}");
    }
}

#[test]
fn serde_is_strict_and_round_trips() {
    let tolerance: Tolerance = serde_json::from_str(r#"{"abs":0.001,"rel":0.0}"#).unwrap();
    assert_eq!(tolerance, Tolerance { abs: 1e-3, rel: 0.0 });
    assert_eq!(serde_json::to_string(&tolerance).unwrap(), r#"{"abs":0.001,"rel":0.0}"#);
    serde_json::from_str::<Tolerance>(r#"{"abs":0.001}"#).unwrap_err();
    serde_json::from_str::<Tolerance>(r#"{"abs":0.001,"rel":0,"ulps":2}"#).unwrap_err();
}

#[test]
fn agreement_of_single_floats() {
    let tol = Tolerance { abs: 1e-3, rel: 0.1 };
    assert!(tol.agrees(1.0, 1.0));
    assert!(tol.agrees(1.0005, 1.0));
    // abs + rel·|b| = 0.001 + 0.1·10 = 1.001
    assert!(tol.agrees(11.0, 10.0));
    assert!(!tol.agrees(11.01, 10.0));
    assert!(tol.agrees(f64::NAN, f64::NAN));
    assert!(!tol.agrees(f64::NAN, 1.0));
    assert!(!tol.agrees(1.0, f64::NAN));
    assert!(tol.agrees(f64::INFINITY, f64::INFINITY));
    assert!(!tol.agrees(f64::INFINITY, f64::NEG_INFINITY));
    assert!(!tol.agrees(f64::MAX, f64::INFINITY), "a finite value never agrees with an infinity");
    assert!(!tol.agrees(f64::INFINITY, f64::MAX));
    assert!(!tol.agrees(f64::MAX, -f64::MAX), "an overflowing difference is beyond any tolerance");
}

#[test]
fn within_tolerance_passes() {
    let claimed = probabilities(vec![0.5, 0.25, 0.25]);
    let same = compare_within(&claimed, &claimed, &TOL).unwrap();
    assert_eq!(same, Agreement { floats: 3, max_abs_diff: 0.0 });
    let reexecuted = probabilities(vec![0.500_005, 0.25, 0.249_998]);
    let agreement = compare_within(&claimed, &reexecuted, &TOL).unwrap();
    assert_eq!(agreement.floats, 3);
    assert!(agreement.max_abs_diff > 4e-6 && agreement.max_abs_diff < 6e-6, "{agreement:?}");
}

#[test]
fn beyond_tolerance_names_the_element() {
    let claimed = probabilities(vec![0.25, 0.25, 0.5]);
    let reexecuted = probabilities(vec![0.25, 0.25, 0.25]);
    let err = compare_within(&claimed, &reexecuted, &TOL).unwrap_err();
    assert_eq!(err, "output `probabilities`[0, 2]: claimed 0.5, re-executed 0.25, beyond abs 1e-5 + rel 0.0001");
    // float64 elements, one dimension.
    let claimed = Values::from([("y".to_owned(), tensor(vec![4], TensorData::Float64(vec![1.0, 2.0, 3.0, 4.0])))]);
    let reexecuted = Values::from([("y".to_owned(), tensor(vec![4], TensorData::Float64(vec![1.0, 2.0, 3.0, 4.1])))]);
    fails(&claimed, &reexecuted, "output `y`[3]: claimed 4.0, re-executed 4.1");
}

#[test]
fn structure_must_match() {
    let claimed = probabilities(vec![0.5, 0.5]);
    // A name missing on either side.
    let mut extra = claimed.clone();
    extra.insert("more".into(), tensor(vec![1], TensorData::Int64(vec![1])));
    fails(&extra, &claimed, "output `more` is claimed, but the model does not produce it");
    fails(&claimed, &extra, "output `more` is missing from the claimed outputs");
    // Another dtype.
    let mut wide = claimed.clone();
    wide.insert("probabilities".into(), tensor(vec![1, 2], TensorData::Float64(vec![0.5, 0.5])));
    fails(&wide, &claimed, "output `probabilities`: claimed float64 elements, re-executed float32");
    // Another shape, the same elements.
    let mut flat = claimed.clone();
    flat.insert("probabilities".into(), tensor(vec![2], TensorData::Float32(vec![0.5, 0.5])));
    fails(&flat, &claimed, "output `probabilities`: claimed shape [2] (2 elements), re-executed shape [1, 2]");
    // Another kind of value.
    let mut maps = claimed.clone();
    maps.insert("probabilities".into(), Value::Int64Maps(vec![BTreeMap::from([(0, 0.5), (1, 0.5)])]));
    fails(&maps, &claimed, "claimed a sequence of int64-keyed maps, re-executed a float32 tensor");
}

#[test]
fn non_floats_must_be_exact() {
    let claimed = probabilities(vec![0.5, 0.5]);
    let mut wrong = claimed.clone();
    wrong.insert("label".into(), tensor(vec![1], TensorData::Int64(vec![1])));
    fails(&wrong, &claimed, "output `label`[0]: claimed 1, re-executed 0 (not a float: must be equal)");
    let strings = |s: &str| Values::from([("s".to_owned(), tensor(vec![1], TensorData::String(vec![s.into()])))]);
    fails(&strings("setosa"), &strings("virginica"), "claimed \"setosa\", re-executed \"virginica\"");
    let bools = |b: bool| Values::from([("b".to_owned(), tensor(vec![1], TensorData::Bool(vec![b])))]);
    fails(&bools(true), &bools(false), "claimed true, re-executed false");
    // Even a huge tolerance does not loosen integers.
    let loose = Tolerance { abs: 1e9, rel: 1e9 };
    compare_within(&wrong, &claimed, &loose).unwrap_err();
}

#[test]
fn nan_agrees_only_with_nan() {
    let values = |x: f32| Values::from([("y".to_owned(), tensor(vec![2], TensorData::Float32(vec![1.0, x])))]);
    let agreement = compare_within(&values(f32::NAN), &values(f32::NAN), &TOL).unwrap();
    assert_eq!(agreement, Agreement { floats: 2, max_abs_diff: 0.0 });
    fails(&values(f32::NAN), &values(1.0), "output `y`[1]: claimed NaN, re-executed 1.0");
    fails(&values(1.0), &values(f32::NAN), "output `y`[1]: claimed 1.0, re-executed NaN");
    compare_within(&values(f32::INFINITY), &values(f32::INFINITY), &TOL).unwrap();
    fails(&values(f32::NEG_INFINITY), &values(f32::INFINITY), "claimed -inf, re-executed inf");
    fails(&values(f32::MAX), &values(f32::INFINITY), "claimed 3.4028235e38, re-executed inf");
}

#[test]
fn maps_need_the_same_keys_and_close_scores() {
    let int_maps = |scores: [f32; 2]| {
        Values::from([(
            "output_probability".to_owned(),
            Value::Int64Maps(vec![
                BTreeMap::from([(0, 1.0), (1, 0.0)]),
                BTreeMap::from([(0, scores[0]), (1, scores[1])]),
            ]),
        )])
    };
    let agreement = compare_within(&int_maps([0.9, 0.1]), &int_maps([0.900_001, 0.1]), &TOL).unwrap();
    assert_eq!(agreement.floats, 4);
    fails(
        &int_maps([0.9, 0.1]),
        &int_maps([0.8, 0.2]),
        "output `output_probability`[1][0]: claimed 0.9, re-executed 0.8, beyond",
    );
    let fewer = Values::from([("output_probability".to_owned(), Value::Int64Maps(vec![BTreeMap::from([(0, 1.0)])]))]);
    fails(&fewer, &int_maps([0.9, 0.1]), "claimed 1 maps, re-executed 2");
    let other_keys = Values::from([(
        "output_probability".to_owned(),
        Value::Int64Maps(vec![BTreeMap::from([(0, 1.0), (2, 0.0)]), BTreeMap::from([(0, 0.9), (1, 0.1)])]),
    )]);
    fails(
        &other_keys,
        &int_maps([0.9, 0.1]),
        "output `output_probability`[0]: claimed keys [0, 2], re-executed keys [0, 1]",
    );
    let string_maps = |score: f32| {
        Values::from([("p".to_owned(), Value::StringMaps(vec![BTreeMap::from([("setosa".to_owned(), score)])]))])
    };
    compare_within(&string_maps(0.5), &string_maps(0.500_001), &TOL).unwrap();
    fails(&string_maps(0.5), &string_maps(0.25), "output `p`[0][\"setosa\"]: claimed 0.5, re-executed 0.25");
}
