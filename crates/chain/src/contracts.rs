//! Bindings of the settlement contracts, generated from the committed artifacts.

#![allow(missing_docs, clippy::too_many_arguments)]

use alloy_primitives::Bytes;

use crate::{ChainError, ChainResult};

alloy_sol_types::sol!(
    #[derive(Debug, PartialEq, Eq)]
    VeritasToken,
    "../../contracts/out/VeritasToken.json"
);
alloy_sol_types::sol!(
    #[derive(Debug, PartialEq, Eq)]
    NodeRegistry,
    "../../contracts/out/NodeRegistry.json"
);
alloy_sol_types::sol!(
    #[derive(Debug, PartialEq, Eq)]
    ModelRegistry,
    "../../contracts/out/ModelRegistry.json"
);
alloy_sol_types::sol!(
    #[derive(Debug, PartialEq, Eq)]
    Settlement,
    "../../contracts/out/Settlement.json"
);

/// Contracts that only tests deploy: a consumer of contract requests and two hostile ones.
pub mod test_contracts {
    #![allow(missing_docs)]
    alloy_sol_types::sol!(TestConsumer, "../../contracts/out/TestConsumer.json");
    alloy_sol_types::sol!(GasBurner, "../../contracts/out/GasBurner.json");
    alloy_sol_types::sol!(Reentrant, "../../contracts/out/Reentrant.json");

    /// `TestConsumer`.
    pub const TEST_CONSUMER: &str = include_str!("../../../contracts/out/TestConsumer.json");
    /// `GasBurner`.
    pub const GAS_BURNER: &str = include_str!("../../../contracts/out/GasBurner.json");
    /// `Reentrant`.
    pub const REENTRANT: &str = include_str!("../../../contracts/out/Reentrant.json");
}

/// A claim as the contracts take it (`Claims.Claim`).
pub fn claim_struct(claim: &veritas_primitives::Claim) -> Claims::Claim {
    Claims::Claim {
        requestId: claim.request_id,
        modelId: claim.model_id.digest(),
        inputHash: claim.input_hash,
        outputHash: claim.output_hash,
        paramsHash: claim.params_hash,
        mode: claim.mode.code(),
        worker: claim.worker,
        timestamp: claim.timestamp,
    }
}

/// The `settleBatch` call of a batch: its root and claim count, the gateway whose payers'
/// allowances it uses, its deadline (Unix seconds), its net transfers and the validators'
/// signatures (in ascending signer order).
pub fn settle_batch_call(
    root: alloy_primitives::B256,
    count: u32,
    gateway: alloy_primitives::Address,
    deadline: u64,
    debits: &[veritas_primitives::batch::Transfer],
    credits: &[veritas_primitives::batch::Transfer],
    signatures: Vec<Bytes>,
) -> Settlement::settleBatchCall {
    let to_abi =
        |t: &veritas_primitives::batch::Transfer| Settlement::Transfer { account: t.account, amount: t.amount };
    Settlement::settleBatchCall {
        root,
        count,
        gateway,
        deadline,
        debits: debits.iter().map(to_abi).collect(),
        credits: credits.iter().map(to_abi).collect(),
        signatures,
    }
}

/// A contract's creation bytecode from its artifact.
pub fn creation_code(artifact: &str) -> ChainResult<Bytes> {
    let json: serde_json::Value = serde_json::from_str(artifact).map_err(|err| ChainError::Decode(err.to_string()))?;
    let hex = json["bytecode"].as_str().ok_or_else(|| ChainError::Decode("artifact has no bytecode".into()))?;
    hex.parse().map_err(|err: alloy_primitives::hex::FromHexError| ChainError::Decode(err.to_string()))
}

/// The committed artifacts, by contract name.
pub mod artifacts {
    /// `VeritasToken`.
    pub const TOKEN: &str = include_str!("../../../contracts/out/VeritasToken.json");
    /// `NodeRegistry`.
    pub const NODE_REGISTRY: &str = include_str!("../../../contracts/out/NodeRegistry.json");
    /// `ModelRegistry`.
    pub const MODEL_REGISTRY: &str = include_str!("../../../contracts/out/ModelRegistry.json");
    /// `Settlement`.
    pub const SETTLEMENT: &str = include_str!("../../../contracts/out/Settlement.json");
}

/// Decodes revert data into the contract's custom error or a revert string, for people.
pub fn revert_reason(data: &[u8]) -> String {
    use alloy_sol_types::SolInterface;
    if let Ok(err) = Settlement::SettlementErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = NodeRegistry::NodeRegistryErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = ModelRegistry::ModelRegistryErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    if let Ok(err) = VeritasToken::VeritasTokenErrors::abi_decode(data) {
        return format!("{err:?}");
    }
    match alloy_sol_types::GenericContractError::abi_decode(data) {
        Ok(err) => format!("{err:?}"),
        Err(_) => format!("0x{}", alloy_primitives::hex::encode(data)),
    }
}
