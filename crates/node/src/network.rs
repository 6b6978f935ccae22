//! The network as the node registry on chain records it: inference nodes and validators with
//! their endpoints and stakes (`veritas_wire::Registry`). Gateways pick workers from it, and
//! quorums are counted against it.

use alloy_primitives::U256;
use veritas_chain::{AnyChain, Chain, ChainResult, contracts::NodeRegistry};
use veritas_primitives::{Address, ValidatorSet};
use veritas_wire::{Member, Registry, Role};

/// Reads the whole registry at `registry` (one call per node: for networks of tens of nodes).
pub async fn read_registry(chain: &AnyChain, registry: Address) -> ChainResult<Registry> {
    let block = chain.block_number().await?;
    let count = chain.view(registry, NodeRegistry::signerCountCall {}).await?;
    let count = usize::try_from(count).unwrap_or(usize::MAX).min(10_000);
    let mut members = Vec::with_capacity(count);
    for index in 0..count {
        let signer = chain.view(registry, NodeRegistry::signerAtCall { index: U256::from(index) }).await?;
        let node = chain.view(registry, NodeRegistry::nodeOfCall { signer }).await?;
        let Some(role) = Role::from_code(node.role) else { continue };
        members.push(Member { signer, role, endpoint: node.endpoint, stake: node.stake });
    }
    let total = chain.view(registry, NodeRegistry::totalValidatorStakeCall {}).await?;
    let stakes = members
        .iter()
        .filter(|m| m.role == Role::Validator && !m.stake.is_zero())
        .map(|m| (m.signer, m.stake))
        .collect();
    Ok(Registry { address: registry, block, members, validators: ValidatorSet { stakes, total } })
}
