//! The network as the node registry on chain records it: inference nodes and validators with
//! their endpoints and stakes (`veritas_wire::Registry`). Gateways pick workers from it, and
//! quorums are counted against it. Registered gateways are asked about one at a time
//! (`isGateway`), by the nodes they call.

use alloy_primitives::U256;
use veritas_chain::{AnyChain, Chain, ChainResult, contracts::NodeRegistry};
use veritas_primitives::{Address, ValidatorSet};
use veritas_wire::{Member, Registry, Role};

/// The most registered nodes a reader takes (in registration order): reading the registry costs
/// a page call per 256 nodes, never more than this, however many register.
pub const MAX_NODES: usize = 1024;
/// Nodes read per call.
const PAGE: usize = 256;

/// Reads the registry at `registry`: its first [`MAX_NODES`] nodes, a page of 256 per call, so
/// that a flood of registrations (each paying the minimum stake) costs a reader a bounded
/// number of calls. Gateways are left out: the registry's members are the inference nodes and
/// validators a gateway calls.
pub async fn read_registry(chain: &AnyChain, registry: Address) -> ChainResult<Registry> {
    let block = chain.block_number().await?;
    let count = chain.view(registry, NodeRegistry::signerCountCall {}).await?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > MAX_NODES {
        tracing::warn!(
            registered = count,
            read = MAX_NODES,
            "the registry lists more nodes than a gateway reads; the first are used"
        );
    }
    let count = count.min(MAX_NODES);
    let mut members = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let page = (count - start).min(PAGE);
        let call = NodeRegistry::nodesAtCall { start: U256::from(start), count: U256::from(page) };
        let read = chain.view(registry, call).await?;
        if read.signers.is_empty() {
            break;
        }
        start += read.signers.len();
        for (signer, node) in read.signers.into_iter().zip(read.nodes) {
            let Some(role) = Role::from_code(node.role) else { continue };
            members.push(Member { signer, role, endpoint: node.endpoint, stake: node.stake });
        }
    }
    let total = chain.view(registry, NodeRegistry::totalValidatorStakeCall {}).await?;
    let stakes = members
        .iter()
        .filter(|m| m.role == Role::Validator && !m.stake.is_zero())
        .map(|m| (m.signer, m.stake))
        .collect();
    Ok(Registry { address: registry, block, members, validators: ValidatorSet { stakes, total } })
}
