//! The attack zero knowledge must defeat (docs/zk.md, "Limits"), run against today's proofs.
//!
//! A model proof opens the committed model vector at a point `ρ = (z_hi, z_lo)` that every
//! verifier computes from the transcript, and its opening carries the combined row
//! `u = eq(z_hi)ᵀ·M`: for each column `j` of the committed matrix `M` (`R` rows), one equation
//! `Σ_i eq(z_hi)_i·M[i][j] = u_j` over `F_{p^2}`, that is two over `F`. With `R/2` proofs or more
//! on any inputs the equations determine every column, and so every weight and bias. The MNIST
//! MLP's 44,530 parameters take 22 rows: 11 proofs suffice, and 10 do not.
//!
//! The test asserts the attack succeeds: it documents the leak. A hiding opening must make it
//! fail, and this test must then assert that it does.

use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing};

use super::{Bounds, ProvingKey, prove};
use crate::mle::eq_table;
use crate::pcs::PcsParams;
use crate::{EF, F};

/// The committed matrix solved from the proofs' openings of the model vector: `None` when the
/// equations do not determine it.
fn solve_committed_matrix(key: &ProvingKey, inputs: &[Vec<i8>]) -> Option<Vec<F>> {
    let vk = key.verifying_key();
    let bounded = vk.bounded(&Bounds::DEFAULT).expect("within bounds");
    let shape = vk.params.shape(vk.commitment.log_len, vk.commitment.len).expect("shape");
    let (rows, cols) = (shape.rows(), shape.cols());
    // One equation per proof and coordinate of F_{p^2}: `rows` coefficients, then the
    // right-hand sides of every column.
    let mut system: Vec<Vec<F>> = Vec::new();
    for input in inputs {
        let (_, proof) = prove(key, input).expect("proves");
        // The point every verifier computes.
        let (_, point) = bounded.check(input, None, &proof).expect("verifies");
        let weights = eq_table(&point[..shape.log_rows]);
        let u = &proof.model_batch.opening.combined_row;
        for coordinate in 0..2 {
            let coefficient = |e: &EF| e.as_basis_coefficients_slice()[coordinate];
            let mut equation: Vec<F> = weights[..rows].iter().map(coefficient).collect();
            equation.extend(u.iter().map(coefficient));
            system.push(equation);
        }
    }
    // Gauss–Jordan elimination on the `rows` unknowns of every column at once.
    for unknown in 0..rows {
        let pivot = (unknown..system.len()).find(|&r| system[r][unknown] != F::ZERO)?;
        system.swap(unknown, pivot);
        let inverse = system[unknown][unknown].inverse();
        system[unknown].iter_mut().for_each(|v| *v *= inverse);
        let pivot_row = system[unknown].clone();
        for (r, row) in system.iter_mut().enumerate() {
            let factor = row[unknown];
            if r != unknown && factor != F::ZERO {
                row.iter_mut().zip(&pivot_row).for_each(|(v, &p)| *v -= factor * p);
            }
        }
    }
    // Row i of the committed matrix is the solved row i's right-hand sides.
    Some((0..rows).flat_map(|i| system[i][rows..rows + cols].to_vec()).collect())
}

#[test]
fn today_about_a_dozen_proofs_reveal_every_weight_and_bias() {
    let onnx = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/models/mnist-mlp.onnx")).unwrap();
    let model = veritas_quantize::quantize(&onnx, &[vec![0.5f32; 784]]).unwrap();
    let key = ProvingKey::new(&model, PcsParams::DEFAULT).unwrap();
    // Any inputs: a fixed pseudo-random sequence.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut input = || -> Vec<i8> {
        (0..784)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as i8
            })
            .collect()
    };
    let inputs: Vec<Vec<i8>> = (0..11).map(|_| input()).collect();
    assert_eq!(key.verifying_key().params.shape(16, key.layout.used).unwrap().rows(), 22);
    // Ten proofs leave the 22 rows underdetermined ...
    assert_eq!(solve_committed_matrix(&key, &inputs[..10]), None);
    // ... eleven give every committed parameter: each weight and bias of both layers.
    let solved = solve_committed_matrix(&key, &inputs).expect("eleven proofs determine the matrix");
    let committed = key.layout.values(&model).unwrap();
    assert_eq!(solved[..key.layout.used], committed[..key.layout.used]);
}
