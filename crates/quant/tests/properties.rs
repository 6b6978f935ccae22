//! Property tests: each integer layer equals a naive exact reference (i128 accumulation, rational
//! rounding half away from zero), and runs are deterministic.

use proptest::prelude::*;
use veritas_quant::{
    QuantLayer, QuantOp, QuantizedModel, Requant,
    geometry::{Conv2d, Pool2d},
};

/// `num / 2^shift` rounded half away from zero, then clamped to int8 (and at 0 for ReLU).
fn reference_requant(num: i128, shift: u32, relu: bool) -> i8 {
    let den = 1i128 << shift;
    let (q, r) = (num.abs() / den, num.abs() % den);
    let q = if 2 * r >= den { q + 1 } else { q };
    let q = if num < 0 { -q } else { q };
    q.clamp(if relu { 0 } else { -128 }, 127) as i8
}

fn one_layer(input_shape: Vec<usize>, op: QuantOp, shape: Vec<usize>) -> QuantizedModel {
    QuantizedModel {
        input_name: "x".into(),
        input_shape,
        input_scale: 0.01,
        layers: vec![QuantLayer { op, shape, scale: 0.02 }],
        output: 1,
    }
}

/// Multipliers of few bits (1/2, 3/4 scaled) make exact ties frequent; random ones cover the rest.
fn requant() -> impl Strategy<Value = Requant> {
    prop_oneof![(prop_oneof![Just(1i64 << 30), Just(3i64 << 29)], 31u32..37), ((1i64 << 30)..(1i64 << 31), 36u32..52),]
        .prop_map(|(multiplier, shift)| Requant { multiplier, shift })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn linear_equals_naive_reference(
        (in_features, out_features, weights, bias, input) in (1usize..24, 1usize..8).prop_flat_map(|(i, o)| (
            Just(i), Just(o),
            proptest::collection::vec(any::<i8>(), i * o),
            proptest::collection::vec(-100_000i32..100_000, o),
            proptest::collection::vec(any::<i8>(), i),
        )),
        requant in requant(),
        relu in any::<bool>(),
    ) {
        let op = QuantOp::Linear { input: 0, in_features, out_features, weights: weights.clone(), bias: bias.clone(), requant, relu };
        let model = one_layer(vec![in_features], op, vec![out_features]);
        let got = model.run(&input).unwrap();
        let expected: Vec<i8> = (0..out_features).map(|o| {
            let mut acc = i128::from(bias[o]);
            for i in 0..in_features {
                acc += i128::from(weights[o * in_features + i]) * i128::from(input[i]);
            }
            reference_requant(acc * i128::from(requant.multiplier), requant.shift, relu)
        }).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(model.run(&input).unwrap(), got, "deterministic");
    }

    #[test]
    fn conv_equals_naive_reference(
        (c_in, c_out, h, w, kh, kw) in (1usize..3, 1usize..3, 3usize..7, 3usize..7, 1usize..4, 1usize..4),
        stride in (1usize..3, 1usize..3),
        pads in (0usize..3, 0usize..3, 0usize..3, 0usize..3),
        seed in proptest::collection::vec(any::<i8>(), 400),
        requant in requant(),
        relu in any::<bool>(),
    ) {
        let pads = [pads.0 % kh, pads.1 % kw, pads.2 % kh, pads.3 % kw];
        let geometry = Conv2d { in_channels: c_in, in_height: h, in_width: w, out_channels: c_out, kernel: [kh, kw], stride: [stride.0, stride.1], pads };
        let [_, oh, ow] = geometry.out_shape().unwrap();
        let weights: Vec<i8> = seed.iter().copied().cycle().take(c_out * c_in * kh * kw).collect();
        let input: Vec<i8> = seed.iter().rev().copied().cycle().take(c_in * h * w).collect();
        let bias: Vec<i32> = (0..c_out as i32).map(|c| c * 1000 - 700).collect();
        let op = QuantOp::Conv { input: 0, geometry, weights: weights.clone(), bias: bias.clone(), requant, relu };
        let model = one_layer(vec![c_in, h, w], op, vec![c_out, oh, ow]);
        let got = model.run(&input).unwrap();
        let mut expected = vec![];
        for oc in 0..c_out {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = i128::from(bias[oc]);
                    for ic in 0..c_in {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride.0 + ky) as i64 - pads[0] as i64;
                                let ix = (ox * stride.1 + kx) as i64 - pads[1] as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 { continue; }
                                let x = input[(ic * h + iy as usize) * w + ix as usize];
                                acc += i128::from(x) * i128::from(weights[((oc * c_in + ic) * kh + ky) * kw + kx]);
                            }
                        }
                    }
                    expected.push(reference_requant(acc * i128::from(requant.multiplier), requant.shift, relu));
                }
            }
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn pools_equal_naive_reference(
        (c, h, w, k, s) in (1usize..3, 2usize..7, 2usize..7, 1usize..3, 1usize..3),
        input in proptest::collection::vec(any::<i8>(), 2 * 6 * 6),
        requant in requant(),
    ) {
        let input = &input[..c * h * w];
        let geometry = Pool2d { channels: c, in_height: h, in_width: w, kernel: [k, k], stride: [s, s], pads: [0; 4] };
        let [_, oh, ow] = geometry.out_shape().unwrap();
        let window = |ch: usize, oy: usize, ox: usize| -> Vec<i8> {
            let mut v = vec![];
            for ky in 0..k { for kx in 0..k { v.push(input[(ch * h + oy * s + ky) * w + ox * s + kx]); } }
            v
        };
        let mut max_expected = vec![];
        let mut avg_expected = vec![];
        for ch in 0..c { for oy in 0..oh { for ox in 0..ow {
            let values = window(ch, oy, ox);
            max_expected.push(*values.iter().max().unwrap());
            let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
            avg_expected.push(reference_requant(sum * i128::from(requant.multiplier), requant.shift, false));
        }}}
        let max = one_layer(vec![c, h, w], QuantOp::MaxPool { input: 0, geometry: geometry.clone() }, vec![c, oh, ow]);
        prop_assert_eq!(max.run(input).unwrap(), max_expected);
        let avg = one_layer(vec![c, h, w], QuantOp::AvgPool { input: 0, geometry, requant }, vec![c, oh, ow]);
        prop_assert_eq!(avg.run(input).unwrap(), avg_expected);
    }

    #[test]
    fn add_equals_naive_reference(
        input in proptest::collection::vec(any::<i8>(), 1..16),
        multiplier_a in 0i64..=(1 << 31),
        multiplier_b in 0i64..=(1 << 31),
        shift in 20u32..40,
        relu in any::<bool>(),
    ) {
        let n = input.len();
        // Tensor 1 = ReLU(input), so Add sees two different tensors.
        let model = QuantizedModel {
            input_name: "x".into(),
            input_shape: vec![n],
            input_scale: 0.01,
            layers: vec![
                QuantLayer { op: QuantOp::Relu { input: 0 }, shape: vec![n], scale: 0.01 },
                QuantLayer { op: QuantOp::Add { a: 0, b: 1, multiplier_a, multiplier_b, shift, relu }, shape: vec![n], scale: 0.02 },
            ],
            output: 2,
        };
        let trace = model.run_trace(&input).unwrap();
        let expected: Vec<i8> = input.iter().map(|&x| {
            let sum = i128::from(x) * i128::from(multiplier_a) + i128::from(x.max(0)) * i128::from(multiplier_b);
            reference_requant(sum, shift, relu)
        }).collect();
        prop_assert_eq!(&trace[2], &expected);
        prop_assert_eq!(model.run(&input).unwrap(), expected);
    }
}
