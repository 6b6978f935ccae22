//! The Fiat–Shamir transcript: a Poseidon2 duplex sponge over Goldilocks (Plonky3's
//! `DuplexChallenger`) that absorbs the protocol version and the statement before anything else.

use p3_challenger::{CanObserve, DuplexChallenger, FieldChallenger};
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
    }
}
