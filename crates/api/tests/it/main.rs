//! The API crate's integration tests, in one binary: the HTTP API on real servers on 127.0.0.1
//! with real nodes, models, chains and clients. `harness` starts them.

mod harness;

mod chat;
mod clients;
mod confidential;
mod contract_requests;
mod embeddings;
mod external_chain;
mod http;
mod hub_fetch;
mod openapi;
mod rpc;
mod settlement;
mod verdicts;
mod web_verifier;
