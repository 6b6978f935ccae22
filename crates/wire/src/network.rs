//! The network as the node registry records it (`GET /v1/network/registry`): inference nodes and
//! validators with their endpoints and stakes. Gateways pick workers from it, and quorums are
//! counted against it.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use veritas_primitives::{Address, B256, RegistrySnapshot, ValidatorSet, keccak256};

/// What a registered node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs models and signs claims.
    Inference,
    /// Judges claims and signs verdicts and batches.
    Validator,
}

impl Role {
    /// The registry's code for the role.
    pub fn code(self) -> u8 {
        match self {
            Role::Inference => 1,
            Role::Validator => 2,
        }
    }

    /// The role of a registry code, if it is one.
    pub fn from_code(code: u8) -> Option<Role> {
        match code {
            1 => Some(Role::Inference),
            2 => Some(Role::Validator),
            _ => None,
        }
    }
}

/// One registered node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its signing key.
    pub signer: Address,
    /// What it does.
    pub role: Role,
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
    /// The validator stakes with where and when they were read, for a receipt.
    pub fn snapshot(&self) -> RegistrySnapshot {
        RegistrySnapshot { registry: self.address, block: self.block, validators: self.validators.clone() }
    }

    /// Staked inference nodes with an endpoint.
    pub fn workers(&self) -> Vec<&Member> {
        self.members
            .iter()
            .filter(|m| m.role == Role::Inference && !m.stake.is_zero() && !m.endpoint.is_empty())
            .collect()
    }

    /// The validators asked to judge a claim: every staked validator (a quorum needs more than
    /// 2/3 of the stake), in an order derived from the claim's digest and their keys, so that
    /// who is asked first rotates and no one chooses.
    pub fn committee(&self, claim: &B256) -> Vec<&Member> {
        let mut validators: Vec<&Member> =
            self.members.iter().filter(|m| m.role == Role::Validator && !m.stake.is_zero()).collect();
        validators.sort_by_key(|m| keccak256([claim.as_slice(), m.signer.as_slice()].concat()));
        validators
    }
}
