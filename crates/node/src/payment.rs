//! Who pays and how much: model prices from the registry, escrow checks with reservations for
//! requests under way, API keys and the replay guard of signed requests.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use veritas_chain::{Chain, ChainError, contracts::ModelRegistry};
use veritas_primitives::{Address, B256, ModelId};

use crate::{Charge, Node, NodeError, NodeResult};

/// A model's prices, in the token's smallest unit.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prices {
    pub per_request: U256,
    pub per_token: U256,
}

/// Whether a chain error means the chain could not be reached (rather than that it refused).
fn unreachable(err: &ChainError) -> bool {
    matches!(err, ChainError::Rpc(_) | ChainError::Timeout(_))
}

/// How long a model price read from the registry is reused.
const PRICE_TTL: Duration = Duration::from_secs(30);

impl Node {
    /// An account's escrow on chain and what its unsettled requests at this node commit.
    pub async fn account(&self, account: Address) -> NodeResult<(U256, U256)> {
        let Some(settlement) = &self.settlement else { return Err(NodeError::NoChain) };
        Ok((settlement.batcher.escrow(account).await?, self.claims.committed(&account)?))
    }

    /// Records a signed request's digest; false if it was seen before. Digests older than ten
    /// minutes are forgotten: the gateway refuses their timestamps anyway.
    pub fn first_use_of_signature(&self, digest: B256, timestamp: u64, now: u64) -> bool {
        let mut seen = self.seen_signatures.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| now.saturating_sub(*at) <= 600);
        seen.insert(digest, timestamp).is_none()
    }

    /// Creates an API key for `account`: returned once, stored only as its SHA-256.
    pub fn create_api_key(&self, account: Address) -> NodeResult<String> {
        let secret = B256::random();
        let key = format!("vk_{}", alloy_primitives::hex::encode(secret));
        self.claims.add_api_key(&api_key_hash(&key), &account)?;
        Ok(key)
    }

    /// The account an API key pays from, or an error naming the key as unknown.
    pub fn api_key_account(&self, key: &str) -> NodeResult<Address> {
        self.claims.api_key_account(&api_key_hash(key))?.ok_or(NodeError::UnknownApiKey)
    }

    /// The price of one request of `model`: the model registry's, or the node's default for a
    /// model it does not list.
    pub async fn price(&self, model: &ModelId) -> NodeResult<U256> {
        Ok(self.prices(model).await?.per_request)
    }

    /// The price of a request of `model` that produces `tokens` tokens (language models are
    /// also priced per token).
    pub async fn price_for(&self, model: &ModelId, tokens: u64) -> NodeResult<U256> {
        let prices = self.prices(model).await?;
        Ok(prices.per_request + prices.per_token * U256::from(tokens))
    }

    /// A model's prices from the registry (read at most every 30 s), or the node's default.
    async fn prices(&self, model: &ModelId) -> NodeResult<Prices> {
        let Some(settlement) = &self.settlement else { return Ok(Prices::default()) };
        if let Some((prices, read)) = settlement.prices.lock().unwrap_or_else(|p| p.into_inner()).get(model)
            && read.elapsed() < PRICE_TTL
        {
            return Ok(*prices);
        }
        let call = ModelRegistry::modelOfCall { modelId: model.digest() };
        let prices = match settlement.batcher.chain.view(settlement.batcher.contracts.models, call).await {
            Ok(listed) => Prices { per_request: listed.pricePerRequest, per_token: listed.pricePerToken },
            Err(ChainError::Reverted { reason, .. }) if reason.contains("UnknownModel") => {
                Prices { per_request: settlement.default_fee, per_token: U256::ZERO }
            }
            Err(err) if unreachable(&err) => {
                // While the chain is away, the last prices read hold.
                let known = settlement.prices.lock().unwrap_or_else(|p| p.into_inner()).get(model).map(|(p, _)| *p);
                let Some(prices) = known else { return Err(err.into()) };
                tracing::warn!(%err, %model, "chain unreachable: using the last prices read");
                return Ok(prices);
            }
            Err(err) => return Err(err.into()),
        };
        settlement.prices.lock().unwrap_or_else(|p| p.into_inner()).insert(*model, (prices, Instant::now()));
        Ok(prices)
    }

    /// Checks that the paying account can cover this request on top of its unsettled ones, and
    /// holds the reservation until the claim is logged (then the claim log counts it).
    /// `tokens` is the most a language model may produce (0 for other models); the charge is
    /// for that many, and a caller that produced fewer lowers it.
    pub(crate) async fn reserve_payment(
        &self,
        model: &ModelId,
        account: Option<Address>,
        tokens: u64,
    ) -> NodeResult<(Charge, Option<Reservation<'_>>)> {
        let Some(settlement) = self.settlement.as_ref().filter(|_| self.role != crate::NodeRole::Inference) else {
            // No chain, or an inference node: the gateway that sent the work charges for it.
            return Ok((Charge { payer: account.unwrap_or_default(), fee: U256::ZERO }, None));
        };
        let payer = account.or(settlement.default_payer).ok_or(NodeError::PaymentRequired)?;
        let price = self.price_for(model, tokens).await?;
        let balance = match settlement.batcher.escrow(payer).await {
            Ok(balance) => {
                settlement.escrows.lock().unwrap_or_else(|p| p.into_inner()).insert(payer, balance);
                balance
            }
            // While the chain is away, requests are checked against the last escrow read (and
            // everything served since is counted as committed), so the API keeps serving.
            Err(NodeError::Chain(err)) if unreachable(&err) => {
                let known = settlement.escrows.lock().unwrap_or_else(|p| p.into_inner()).get(&payer).copied();
                let Some(balance) = known else { return Err(err.into()) };
                tracing::warn!(%err, %payer, "chain unreachable: checking against the last escrow read");
                balance
            }
            Err(err) => return Err(err),
        };
        let reservation = Reservation::new(&settlement.reserved, payer, price);
        let committed = self.claims.committed(&payer)? + reservation.others;
        if balance < committed + price {
            return Err(NodeError::InsufficientFunds { account: payer, balance, committed, price });
        }
        Ok((Charge { payer, fee: price }, Some(reservation)))
    }
}

/// One request's hold on its payer's escrow, released when dropped.
pub(crate) struct Reservation<'a> {
    reserved: &'a std::sync::Mutex<HashMap<Address, U256>>,
    payer: Address,
    price: U256,
    /// What the payer's requests before this one hold.
    others: U256,
}

impl<'a> Reservation<'a> {
    fn new(reserved: &'a std::sync::Mutex<HashMap<Address, U256>>, payer: Address, price: U256) -> Reservation<'a> {
        let mut map = reserved.lock().unwrap_or_else(|p| p.into_inner());
        let held = map.entry(payer).or_default();
        let others = *held;
        *held += price;
        Reservation { reserved, payer, price, others }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut map = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = map.get_mut(&self.payer) {
            *held = held.saturating_sub(self.price);
            if held.is_zero() {
                map.remove(&self.payer);
            }
        }
    }
}

/// The SHA-256 an API key is stored as.
fn api_key_hash(key: &str) -> B256 {
    use sha2::Digest;
    B256::from_slice(&sha2::Sha256::digest(key.as_bytes()))
}
