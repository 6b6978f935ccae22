//! The network as the node registry records it: inference nodes and validators with their
//! endpoints and stakes. Gateways pick workers from it, and quorums are counted against it.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use veritas_chain::{AnyChain, Chain, ChainResult, contracts::NodeRegistry};
use veritas_primitives::{Address, B256, RegistrySnapshot, ValidatorSet, keccak256};

/// One registered node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its signing key.
    pub signer: Address,
    /// `inference` or `validator`.
    pub role: String,
    /// Where it listens (its API's base URL).
    pub endpoint: String,
    /// Its stake (what slashing can take), in the token's smallest unit.
    pub stake: U256,
}

/// The registry at one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// The registry contract.
    pub address: Address,
    /// The block it was read at.
    pub block: u64,
    /// Every registered node, in registration order.
    pub members: Vec<Member>,
    /// The validators' stakes, for quorums.
    pub validators: ValidatorSet,
}

impl Registry {
    /// Reads the whole registry (one call per node: for networks of tens of nodes).
    pub async fn read(chain: &AnyChain, registry: Address) -> ChainResult<Registry> {
        let block = chain.block_number().await?;
        let count = chain.view(registry, NodeRegistry::signerCountCall {}).await?;
        let count = usize::try_from(count).unwrap_or(usize::MAX).min(10_000);
        let mut members = Vec::with_capacity(count);
        for index in 0..count {
            let signer = chain.view(registry, NodeRegistry::signerAtCall { index: U256::from(index) }).await?;
            let node = chain.view(registry, NodeRegistry::nodeOfCall { signer }).await?;
            let role = match node.role {
                1 => "inference",
                2 => "validator",
                _ => continue,
            };
            members.push(Member { signer, role: role.to_owned(), endpoint: node.endpoint, stake: node.stake });
        }
        let total = chain.view(registry, NodeRegistry::totalValidatorStakeCall {}).await?;
        let stakes = members
            .iter()
            .filter(|m| m.role == "validator" && !m.stake.is_zero())
            .map(|m| (m.signer, m.stake))
            .collect();
        Ok(Registry { address: registry, block, members, validators: ValidatorSet { stakes, total } })
    }

    /// The validator stakes with where and when they were read, for a receipt.
    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot { registry: self.address, block: self.block, validators: self.validators.clone() }
    }

    /// Staked inference nodes with an endpoint.
    pub fn workers(&self) -> Vec<&Member> {
        self.members.iter().filter(|m| m.role == "inference" && !m.stake.is_zero() && !m.endpoint.is_empty()).collect()
    }

    /// The validators asked to judge a claim: every staked validator (a quorum needs more than
    /// 2/3 of the stake), in an order derived from the claim's digest and their keys, so that
    /// who is asked first rotates and no one chooses.
    pub fn committee(&self, claim: &B256) -> Vec<&Member> {
        let mut validators: Vec<&Member> =
            self.members.iter().filter(|m| m.role == "validator" && !m.stake.is_zero()).collect();
        validators.sort_by_key(|m| keccak256([claim.as_slice(), m.signer.as_slice()].concat()));
        validators
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
    let value = u64::from_be_bytes(draw[..8].try_into().unwrap_or_default());
    (value as f64) < share * (u64::MAX as f64)
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
}
