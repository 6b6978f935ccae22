//! The check a validator ran before it signed a verdict, and which checks count for which claim
//! mode: the same rule as the contracts' `ValidatorQuorum.checkCounts`.

use serde::{Deserialize, Serialize};

use crate::{Mode, PrimitiveError, PrimitiveResult};

/// What a validator did to judge a claim. Its code is the claim mode code whose check it is, and
/// it is part of the signed verdict, so a verdict cannot be passed off as a stronger check than
/// the one its validator ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The receipt's own consistency: the worker's signature, every hash, the model id.
    Signed,
    /// Re-execution of the computation.
    Reexec,
    /// Verification of the claim's zero-knowledge proof.
    Zk,
    /// Verification of the claim's TEE attestation.
    Tee,
}

impl Check {
    /// Every check, in code order.
    pub const ALL: [Check; 4] = [Check::Signed, Check::Reexec, Check::Zk, Check::Tee];

    /// The byte a verdict's typed data carries (the mode code of the same name).
    pub fn code(self) -> u8 {
        match self {
            Check::Signed => 0,
            Check::Reexec => 1,
            Check::Zk => 2,
            Check::Tee => 3,
        }
    }

    /// The check of a verdict byte.
    pub fn from_code(code: u8) -> PrimitiveResult<Check> {
        Check::ALL
            .into_iter()
            .find(|check| check.code() == code)
            .ok_or_else(|| PrimitiveError::Decode { what: "check", reason: format!("unknown check {code}") })
    }

    /// The lowercase name, as JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Check::Signed => "signed",
            Check::Reexec => "reexec",
            Check::Zk => "zk",
            Check::Tee => "tee",
        }
    }

    /// Whether a verdict from this check counts toward a quorum on a claim of `mode`: a `signed`
    /// claim is judged by its signature; a `reexec` claim by re-execution or, for the share that
    /// sampling leaves unexecuted, by its signature; a `zk` claim only by its proof; a `tee` claim
    /// only by its attestation. The contracts apply the same rule (`checkCounts`).
    pub fn counts_for(self, mode: Mode) -> bool {
        matches!(
            (mode, self),
            (Mode::Signed, Check::Signed)
                | (Mode::Reexec, Check::Signed | Check::Reexec)
                | (Mode::Zk, Check::Zk)
                | (Mode::Tee, Check::Tee)
        )
    }
}

impl std::str::FromStr for Check {
    type Err = PrimitiveError;

    fn from_str(text: &str) -> PrimitiveResult<Check> {
        Check::ALL.into_iter().find(|check| check.name() == text).ok_or_else(|| PrimitiveError::Decode {
            what: "check",
            reason: format!("unknown check {text:?}; expected signed, reexec, zk or tee"),
        })
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contracts' `checkCounts(mode, check)` table, written out: one line per mode.
    #[test]
    fn counts_for_is_the_contracts_rule() {
        let check = |mode: Mode, counted: [bool; 4]| {
            for (check, expected) in Check::ALL.into_iter().zip(counted) {
                assert_eq!(check.counts_for(mode), expected, "{check} for a {mode} claim");
            }
        };
        //                     signed reexec zk     tee
        check(Mode::Signed, [true, false, false, false]);
        check(Mode::Reexec, [true, true, false, false]);
        check(Mode::Zk, [false, false, true, false]);
        check(Mode::Tee, [false, false, false, true]);
    }

    #[test]
    fn codes_names_and_json_agree_with_the_modes() {
        for check in Check::ALL {
            assert_eq!(Check::from_code(check.code()).unwrap(), check);
            assert_eq!(Mode::from_code(check.code()).unwrap().name(), check.name(), "a check's code is its mode's");
            assert_eq!(check.name().parse::<Check>().unwrap(), check);
            assert_eq!(serde_json::to_string(&check).unwrap(), format!("\"{}\"", check.name()));
            assert_eq!(serde_json::from_str::<Check>(&format!("\"{check}\"")).unwrap(), check);
        }
        assert!(Check::from_code(4).unwrap_err().to_string().contains("unknown check 4"));
        assert!("TEE".parse::<Check>().is_err());
        assert!(serde_json::from_str::<Check>("\"Signed\"").is_err());
    }
}
