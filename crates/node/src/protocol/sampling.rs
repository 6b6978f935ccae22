//! How a validator checks a claim: every `zk` proof and `tee` attestation, the sampled share of
//! `reexec` claims re-executed (chosen by the claim's digest, so every validator picks the same
//! ones and neither the worker nor the gateway picks), everything else `signed`.

use veritas_primitives::{B256, Mode, keccak256};
pub use veritas_wire::CheckMode;

/// The check a validator makes of a claim in `mode` with digest `claim` when none is asked for,
/// re-executing the `share` (0..=1) of `reexec` claims.
pub fn check_for(mode: Mode, claim: &B256, share: f64) -> CheckMode {
    match mode {
        Mode::Reexec if sampled(claim, share) => CheckMode::Reexec,
        // Every tee claim's evidence is checked: it is what the mode sells.
        Mode::Tee => CheckMode::Tee,
        // Every zk claim's proof is verified: it costs milliseconds.
        Mode::Zk => CheckMode::Zk,
        _ => CheckMode::Signed,
    }
}

/// Whether a claim is one of the `share` (0..=1) re-executed: derived from its digest alone, so
/// every validator makes the same choice and neither the worker nor the gateway picks.
pub fn sampled(claim: &B256, share: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    if share <= 0.0 {
        return false;
    }
    let draw = keccak256([b"veritas.sample".as_slice(), claim.as_slice()].concat());
    let mut word = [0u8; 8];
    word.copy_from_slice(&draw[..8]);
    (u64::from_be_bytes(word) as f64) < share * (u64::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_picks_about_the_share_and_always_the_same_claims() {
        let claims: Vec<B256> = (0u32..10_000).map(|i| keccak256(i.to_be_bytes())).collect();
        for share in [0.1, 0.5, 0.9] {
            let picked = claims.iter().filter(|c| sampled(c, share)).count() as f64;
            // Binomial: 10,000 draws, 5 standard deviations at most.
            let sd = (10_000.0 * share * (1.0 - share)).sqrt();
            assert!((picked - 10_000.0 * share).abs() < 5.0 * sd, "{picked} picked at {share}");
        }
        assert!(claims.iter().all(|c| sampled(c, 1.0)));
        assert!(!claims.iter().any(|c| sampled(c, 0.0)));
        let again = claims.iter().filter(|c| sampled(c, 0.5)).count();
        assert_eq!(again, claims.iter().filter(|c| sampled(c, 0.5)).count());
    }

    #[test]
    fn each_mode_gets_its_check() {
        let claim = keccak256(b"claim");
        for (mode, share, expected) in [
            (Mode::Signed, 1.0, CheckMode::Signed),
            (Mode::Reexec, 1.0, CheckMode::Reexec),
            (Mode::Reexec, 0.0, CheckMode::Signed),
            (Mode::Tee, 0.0, CheckMode::Tee),
            (Mode::Zk, 0.0, CheckMode::Zk),
        ] {
            assert_eq!(check_for(mode, &claim, share), expected, "{mode} at {share}");
        }
    }
}
