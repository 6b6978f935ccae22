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

    struct Verdict { address validator; bool valid; bytes signature; }

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
