//! Requantization: a real multiplier as an integer `m` and a right shift, and its exact rounding.
//!
//! `apply(x) = clamp(round_half_away_from_zero(x * m / 2^shift))`, computed exactly in `i128`,
//! so it is the rational `x * m / 2^shift` rounded once: ties (a fractional part of exactly 1/2)
//! go away from zero.

use serde::{Deserialize, Serialize};

use crate::{QuantError, Result};

/// The least normalized multiplier, 2^30.
pub const MULTIPLIER_MIN: i64 = 1 << 30;
/// One past the greatest normalized multiplier, 2^31.
pub const MULTIPLIER_END: i64 = 1 << 31;
/// The greatest shift accepted.
pub const MAX_SHIFT: u32 = 62;

/// A real multiplier `M ≈ multiplier / 2^shift`, with `multiplier` in [2^30, 2^31).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requant {
    /// The integer multiplier, in [2^30, 2^31).
    pub multiplier: i64,
    /// The right shift, at most [`MAX_SHIFT`].
    pub shift: u32,
}

impl Requant {
    /// The nearest representation of `real` (positive, finite): `real = f * 2^-e` with `f` in
    /// [0.5, 1), `multiplier = round(f * 2^31)` (a carry to 2^31 halves it), `shift = 31 + e`.
    pub fn from_real(real: f64) -> Result<Self> {
        if !(real.is_finite() && real > 0.0) {
            return Err(QuantError::Multiplier { real });
        }
        let mut exponent: i32 = 0;
        let mut fraction = real;
        while fraction >= 1.0 {
            fraction /= 2.0;
            exponent -= 1;
        }
        while fraction < 0.5 {
            fraction *= 2.0;
            exponent += 1;
        }
        let mut multiplier = (fraction * MULTIPLIER_END as f64).round() as i64;
        if multiplier == MULTIPLIER_END {
            multiplier /= 2;
            exponent -= 1;
        }
        let shift = 31 + exponent;
        if !(0..=MAX_SHIFT as i32).contains(&shift) {
            return Err(QuantError::Multiplier { real });
        }
        Ok(Self { multiplier, shift: shift as u32 })
    }

    /// The real value represented.
    pub fn real(&self) -> f64 {
        self.multiplier as f64 / 2f64.powi(self.shift as i32)
    }

    /// Checks the invariants a deserialized value may break.
    pub fn validate(&self) -> Result<()> {
        if (MULTIPLIER_MIN..MULTIPLIER_END).contains(&self.multiplier) && self.shift <= MAX_SHIFT {
            Ok(())
        } else {
            Err(QuantError::Invalid(format!("requant {self:?} out of range")))
        }
    }

    /// `x * multiplier / 2^shift` rounded half away from zero, unclamped.
    pub fn scale(&self, x: i64) -> i64 {
        round_shift(i128::from(x) * i128::from(self.multiplier), self.shift)
    }

    /// [`Self::scale`] clamped to int8, and to [0, 127] when `relu`.
    pub fn apply(&self, x: i64, relu: bool) -> i8 {
        clamp_i8(self.scale(x), relu)
    }
}

/// `value / 2^shift` rounded half away from zero; `shift` at most 126.
pub fn round_shift(value: i128, shift: u32) -> i64 {
    let rounded = if shift == 0 {
        value
    } else {
        let half = 1i128 << (shift - 1);
        if value >= 0 { (value + half) >> shift } else { -((-value + half) >> shift) }
    };
    // Saturating: a result beyond i64 clamps to int8 the same way.
    rounded.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `value` clamped to [-128, 127], or to [0, 127] when `relu`.
pub fn clamp_i8(value: i64, relu: bool) -> i8 {
    let low = if relu { 0 } else { i64::from(i8::MIN) };
    value.clamp(low, i64::from(i8::MAX)) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An independent reference: the exact rational `num / den` rounded half away from zero.
    fn round_rational(num: i128, den: i128) -> i128 {
        let (q, r) = (num.abs() / den, num.abs() % den);
        let q = if 2 * r >= den { q + 1 } else { q };
        if num < 0 { -q } else { q }
    }

    fn check(x: i64, multiplier: i64, shift: u32, expected: i64) {
        let requant = Requant { multiplier, shift };
        assert_eq!(requant.scale(x), expected, "{x} * {multiplier} / 2^{shift}");
        let reference = round_rational(i128::from(x) * i128::from(multiplier), 1i128 << shift);
        assert_eq!(i128::from(expected), reference, "reference disagrees on {x}");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        let half = 1 << 30; // multiplier / 2^31 = 1/2
        check(1, half, 31, 1); // 0.5 → 1
        check(-1, half, 31, -1); // -0.5 → -1
        check(3, half, 31, 2); // 1.5 → 2
        check(-3, half, 31, -2);
        check(5, half, 31, 3); // 2.5 → 3, not banker's 2
        check(-5, half, 31, -3);
        check(2, half, 31, 1);
        check(0, half, 31, 0);
        check(1, (1 << 30) + 1, 32, 0); // just over 1/4 → 0
        check(3, 3 << 28, 31, 1); // 3 * 3/8 = 1.125 → 1
        check(-3, 3 << 28, 31, -1);
        check(5, 3 << 28, 31, 2); // 1.875 → 2
        check(-5, 3 << 28, 31, -2);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let max = MULTIPLIER_END - 1;
        check(i64::from(i32::MAX), max, 31, i64::from(i32::MAX) - 1);
        check(i64::from(i32::MIN), max, 31, i64::from(i32::MIN) + 1);
        check(i64::from(i32::MAX), max, 0, i64::from(i32::MAX) * max);
        check(i64::from(i32::MIN), MULTIPLIER_MIN, MAX_SHIFT, -1); // exactly -1/2
        check(-(1 << 40), max, MAX_SHIFT, -512);
        assert_eq!(round_shift(i128::MAX >> 1, 0), i64::MAX);
        assert_eq!(Requant { multiplier: max, shift: 0 }.apply(i64::MIN, false), -128);
        assert_eq!(Requant { multiplier: max, shift: 0 }.apply(i64::MAX, true), 127);
    }

    #[test]
    fn clamps_to_int8_and_relu() {
        let one = Requant { multiplier: 1 << 30, shift: 30 };
        for (x, relu, expected) in
            [(200, false, 127), (-200, false, -128), (-5, true, 0), (5, true, 5), (-128, false, -128)]
        {
            assert_eq!(one.apply(x, relu), expected, "{x} relu={relu}");
        }
    }

    #[test]
    fn from_real_is_close_and_normalized() {
        for real in [1.0, 0.5, 0.75, 1e-6, 3.3e-3, 0.999_999_999_9, 1.5, 1000.0, 1.0 / 3.0] {
            let requant = Requant::from_real(real).expect("in range");
            requant.validate().expect("normalized");
            assert!((requant.real() - real).abs() <= real * 2f64.powi(-30), "{real}: {requant:?}");
        }
        for real in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-30, 1e10] {
            assert!(Requant::from_real(real).is_err(), "{real}");
        }
    }

    #[test]
    fn validate_rejects_denormalized() {
        assert!(Requant { multiplier: MULTIPLIER_END, shift: 31 }.validate().is_err());
        assert!(Requant { multiplier: MULTIPLIER_MIN - 1, shift: 31 }.validate().is_err());
        assert!(Requant { multiplier: MULTIPLIER_MIN, shift: 63 }.validate().is_err());
    }
}
