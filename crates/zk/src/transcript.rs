//! The Fiat–Shamir transcript: a Poseidon2 duplex sponge over Goldilocks (Plonky3's
//! `DuplexChallenger`) that absorbs the protocol version and the statement before anything else,
//! draws extension-field challenges and query indices, and grinds and checks proofs of work.

use p3_challenger::{CanObserve, CanSampleBits, DuplexChallenger, FieldChallenger, GrindingChallenger};
use p3_field::PrimeCharacteristicRing;
use p3_goldilocks::{Poseidon2Goldilocks, default_goldilocks_poseidon2_8};

use crate::{EF, F};

/// The protocol version tag, absorbed first by every transcript; a change to any protocol's
/// message order or encoding changes it.
pub const PROTOCOL_VERSION: &[u8] = b"veritas-zk/v1";

const WIDTH: usize = 8;
const RATE: usize = 4;

type Challenger = DuplexChallenger<F, Poseidon2Goldilocks<WIDTH>, WIDTH, RATE>;

/// A Fiat–Shamir transcript bound to one statement.
///
/// The only constructor absorbs the version tag, a domain label and the statement, so no
/// challenge can be drawn before the statement is absorbed. Prover and verifier must make the
/// same calls in the same order.
pub struct Transcript {
    challenger: Challenger,
}

impl Transcript {
    /// A transcript for `statement` in protocol `domain` (e.g. `b"matvec"`). Each byte string
    /// and the statement are absorbed with their lengths first, so no two different
    /// (domain, statement) pairs absorb the same sequence.
    pub fn new(domain: &[u8], statement: &[F]) -> Self {
        let mut transcript = Self { challenger: Challenger::new(default_goldilocks_poseidon2_8()) };
        transcript.absorb_bytes(PROTOCOL_VERSION);
        transcript.absorb_bytes(domain);
        transcript.absorb_len(statement.len());
        transcript.challenger.observe_slice(statement);
        transcript
    }

    /// Absorbs extension-field elements (a prover message).
    pub fn absorb_ext(&mut self, values: &[EF]) {
        for value in values {
            self.challenger.observe_algebra_element(*value);
        }
    }

    /// Absorbs base-field elements (a prover message: a commitment's `to_fields`, a trace).
    pub fn absorb_base(&mut self, values: &[F]) {
        self.challenger.observe_slice(values);
    }

    /// Draws an index in `[0, 2^bits)`: the low `bits` bits of a sampled field element (their
    /// bias is below `2^-32`). `bits` comes from the protocol, never a proof, and is at most 32.
    pub fn sample_index(&mut self, bits: usize) -> usize {
        debug_assert!(bits <= 32, "index bits {bits} above 32");
        self.challenger.sample_bits(bits)
    }

    /// Finds a proof-of-work witness: an element that, absorbed, makes the next `bits` sampled
    /// bits zero (about `2^bits` permutations). With `bits` 0 it absorbs nothing and returns
    /// zero. `bits` is at most 32 (a protocol parameter).
    pub fn grind(&mut self, bits: usize) -> F {
        debug_assert!(bits <= 32, "proof-of-work bits {bits} above 32");
        self.challenger.grind(bits)
    }

    /// Checks [`Self::grind`]'s witness, absorbing it as the prover did. With `bits` 0 only
    /// the zero witness is accepted and nothing is absorbed, so each proof has one encoding.
    pub fn check_pow(&mut self, bits: usize, witness: F) -> bool {
        if bits == 0 {
            return witness == F::ZERO;
        }
        self.challenger.check_witness(bits, witness)
    }

    /// Draws a challenge in the extension field.
    pub fn challenge(&mut self) -> EF {
        self.challenger.sample_algebra_element()
    }

    /// Draws `n` challenges.
    pub fn challenges(&mut self, n: usize) -> Vec<EF> {
        (0..n).map(|_| self.challenge()).collect()
    }

    fn absorb_len(&mut self, len: usize) {
        self.challenger.observe(F::from_u64(len as u64));
    }

    fn absorb_bytes(&mut self, bytes: &[u8]) {
        self.absorb_len(bytes.len());
        for &byte in bytes {
            self.challenger.observe(F::from_u8(byte));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_challenge(domain: &[u8], statement: &[u64]) -> EF {
        let statement: Vec<F> = statement.iter().map(|&v| F::from_u64(v)).collect();
        Transcript::new(domain, &statement).challenge()
    }

    #[test]
    fn challenges_are_deterministic() {
        assert_eq!(first_challenge(b"a", &[1, 2]), first_challenge(b"a", &[1, 2]));
    }

    #[test]
    fn challenges_depend_on_domain_and_statement() {
        let base = first_challenge(b"a", &[1, 2]);
        assert_ne!(base, first_challenge(b"b", &[1, 2]));
        assert_ne!(base, first_challenge(b"a", &[1, 3]));
        assert_ne!(base, first_challenge(b"a", &[1, 2, 0]));
        // The length prefix separates the domain from the statement.
        assert_ne!(first_challenge(b"a\x01", &[]), first_challenge(b"a", &[1]));
    }

    #[test]
    fn challenges_depend_on_messages() {
        let mut one = Transcript::new(b"a", &[]);
        let mut two = Transcript::new(b"a", &[]);
        one.absorb_ext(&[EF::ONE]);
        two.absorb_ext(&[EF::TWO]);
        assert_ne!(one.challenge(), two.challenge());
        let (first, second) = (one.challenge(), one.challenge());
        assert_ne!(first, second);
        let mut three = Transcript::new(b"a", &[]);
        three.absorb_base(&[F::ONE]);
        assert_ne!(three.challenge(), Transcript::new(b"a", &[]).challenge());
    }

    #[test]
    fn indices_are_in_range_and_deterministic() {
        let mut one = Transcript::new(b"a", &[]);
        let mut two = Transcript::new(b"a", &[]);
        for bits in [0, 1, 5, 32] {
            let index = one.sample_index(bits);
            assert!(index < 1 << bits, "{index} ≥ 2^{bits}");
            assert_eq!(index, two.sample_index(bits));
        }
    }

    #[test]
    fn proof_of_work_round_trips() {
        for bits in [0, 1, 8] {
            let mut prover = Transcript::new(b"pow", &[]);
            let witness = prover.grind(bits);
            let mut verifier = Transcript::new(b"pow", &[]);
            assert!(verifier.check_pow(bits, witness), "{bits} bits");
            assert_eq!(prover.challenge(), verifier.challenge());
        }
        assert!(!Transcript::new(b"pow", &[]).check_pow(0, F::ONE));
        // Deterministic: this other witness misses the 8-bit target (as 255 in 256 do).
        let witness = Transcript::new(b"pow", &[]).grind(8);
        assert!(!Transcript::new(b"pow", &[]).check_pow(8, witness + F::ONE));
    }
}
