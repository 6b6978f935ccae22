//! Paying accounts as the API shows them: escrow and what unsettled requests commit, new API
//! keys, and what a gateway did with a contract's on-chain request.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use veritas_primitives::{Address, B256};

/// `GET /v1/accounts/{address}`: amounts in the token's smallest unit, as decimal strings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountBalance {
    /// The account.
    #[schema(value_type = crate::schema::Address)]
    pub account: Address,
    /// Its escrow in the settlement contract.
    pub escrow: String,
    /// What its requests served and not yet settled will take.
    pub committed: String,
    /// Escrow less committed.
    pub available: String,
}

/// `POST /v1/account/keys`: a new API key, shown once (the node keeps only its SHA-256).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The account it pays from.
    #[schema(value_type = crate::schema::Address)]
    pub account: Address,
    /// The key (`vk_…`).
    pub api_key: String,
}

/// `GET /v1/requests/{id}`: what this gateway did with a contract's on-chain request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestStatus {
    /// Served by this receipt.
    Served {
        /// The on-chain request id.
        request: u64,
        /// The receipt answering it.
        #[schema(value_type = crate::schema::Hash32)]
        receipt_id: B256,
    },
    /// Refused for good, for this reason (the requester is refunded after the deadline).
    Refused {
        /// The on-chain request id.
        request: u64,
        /// Why.
        reason: String,
    },
    /// Not seen yet.
    Unseen {
        /// The on-chain request id.
        request: u64,
    },
}
