//! Solidity types of claims and receipts: the EIP-712 type of a claim and the ABI layout of the
//! canonical receipt encoding. Contracts declare the same structs.

#![allow(missing_docs)]

alloy_sol_types::sol! {
    /// A claim as EIP-712 typed data; see `crate::Claim`.
    #[derive(Debug, PartialEq, Eq)]
    struct Claim {
        bytes32 requestId;
        bytes32 modelId;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 paramsHash;
        uint8 mode;
        address worker;
        uint64 timestamp;
    }

    struct Evidence { string kind; bytes data; }

    /// A verdict; `check` is `crate::Check::code`.
    struct Verdict { address validator; bool valid; uint8 check; bytes signature; }

    struct Settlement {
        uint64 chainId;
        address contractAddress;
        bytes32 batchRoot;
        bytes32[] merklePath;
        bytes32 transaction;
        uint64 blockNumber;
    }

    /// The canonical receipt, after its version byte; `settlement` holds zero or one element.
    struct Receipt {
        uint64 chainId;
        address verifyingContract;
        Claim claim;
        bytes signature;
        Evidence[] evidence;
        Verdict[] verdicts;
        Settlement[] settlement;
    }
}

alloy_sol_types::sol! {
    /// The settlement contract's check that a receipt is in a settled batch.
    function isSettled(bytes32 root, bytes32 leaf, bytes32[] path) external view returns (bool);
}

/// The calldata of `isSettled` for a receipt's settlement: what a client sends with `eth_call`
/// to the settlement contract to confirm, on chain, that the receipt `id` is in its batch.
pub fn is_settled_calldata(settlement: &crate::Settlement, id: &crate::B256) -> Vec<u8> {
    use alloy_sol_types::SolCall;
    isSettledCall { root: settlement.batch_root, leaf: crate::merkle_leaf(id), path: settlement.merkle_path.clone() }
        .abi_encode()
}
