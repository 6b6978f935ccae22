//! The network as the node registry records it (`GET /v1/network/registry`): inference nodes and
//! validators with their endpoints and stakes. Gateways pick workers from it, and quorums are
//! counted against it.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use veritas_primitives::{Address, B256, RegistrySnapshot, ValidatorSet, keccak256};

/// What a registered node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    /// Its signing key.
    #[schema(value_type = crate::schema::Address)]
    pub signer: Address,
    /// What it does.
    pub role: Role,
    /// Where it listens (its API's base URL).
    pub endpoint: String,
    /// Its stake (what slashing can take), in the token's smallest unit.
    #[schema(value_type = crate::schema::Amount)]
    pub stake: U256,
}

/// The registry at one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Registry {
    /// The registry contract.
    #[schema(value_type = crate::schema::Address)]
    pub address: Address,
    /// The block it was read at.
    pub block: u64,
    /// Every registered node, in registration order.
    pub members: Vec<Member>,
    /// The validators' stakes, for quorums: `{"stakes": {address: amount}, "total"}`.
    #[schema(value_type = Object)]
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

/// `GET /v1/network`: the chain this node settles on, and the domain its claims are signed in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkInfo {
    /// The chain; null for a node that runs without one.
    pub chain: Option<ChainInfo>,
    /// The EIP-712 domain of claims, verdicts and batches: `{"chain_id", "verifying_contract"}`.
    #[schema(value_type = Object)]
    pub claim_domain: veritas_primitives::ClaimDomain,
    /// The gateway's address, when this node is one: what signed requests name, and whom
    /// payers allow to charge their escrow.
    #[schema(value_type = Option<crate::schema::Address>)]
    pub gateway: Option<Address>,
}

/// The chain a node settles on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainInfo {
    /// `embedded` (the node runs it) or `rpc` (any EVM chain over JSON-RPC).
    pub kind: String,
    /// Its id.
    pub chain_id: u64,
    /// The embedded chain's JSON-RPC path on this node (`/rpc`); null over JSON-RPC.
    pub rpc: Option<String>,
    /// Its head block.
    pub block: u64,
    /// Where the contracts are.
    pub contracts: ContractAddresses,
    /// The development accounts (embedded chain only; their keys are public).
    #[schema(value_type = Vec<crate::schema::Address>)]
    pub dev_accounts: Vec<Address>,
    /// The account that pays for requests naming none (development account 1; else null).
    #[schema(value_type = Option<crate::schema::Address>)]
    pub default_payer: Option<Address>,
}

/// The contracts' addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContractAddresses {
    /// The token fees and stakes are paid in.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// The node registry.
    #[schema(value_type = crate::schema::Address)]
    pub node_registry: Address,
    /// The model registry.
    #[schema(value_type = crate::schema::Address)]
    pub model_registry: Address,
    /// The settlement contract (escrow, batches, disputes, requests).
    #[schema(value_type = crate::schema::Address)]
    pub settlement: Address,
}

/// `GET /v1/tee/policy`: the enclave this network's `tee` claims come from and the policy its
/// gateway and validators check them by. A reader chooses whether to trust it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeePolicyInfo {
    /// `nitro`, `simulated`, or null when the network offers no `tee` mode.
    pub enclave: Option<String>,
    /// Whether the enclave is the simulated one (UNTRUSTED).
    pub simulated: bool,
    /// The simulated enclave's warning, when it is the one.
    pub warning: Option<String>,
    /// Allowlisted measurements, accepted TCB statuses and platform flags, whether simulated
    /// evidence passes (docs/tee.md).
    #[schema(value_type = Object)]
    pub policy: veritas_verifier::tee::Policy,
}
