//! Who pays and how much: the prices this gateway lists in the model registry (a model it has
//! not listed is listed at the node's default price), escrow checks with reservations for
//! requests under way, and what an account has committed. While the chain is unreachable, the last prices and escrows read hold, so the API
//! keeps serving.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use veritas_chain::{Chain, contracts::ModelRegistry};
use veritas_primitives::{Address, ModelId};

use super::Gateway;
use crate::{
    NodeError, NodeResult,
    protocol::{Bill, Prices, pricing::affordable},
};

/// How long a model price read from the registry is reused.
const PRICE_TTL: Duration = Duration::from_secs(30);

/// What a gateway remembers about payments.
#[derive(Default)]
pub(crate) struct Payments {
    /// Requests between their payment check and their claim-log write, by payer.
    reserved: std::sync::Mutex<HashMap<Address, U256>>,
    /// Model prices read from the registry, with when they were read.
    prices: std::sync::Mutex<HashMap<ModelId, (Prices, Instant)>>,
    /// The last escrow balance read per payer, for when the chain is unreachable.
    escrows: std::sync::Mutex<HashMap<Address, U256>>,
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gateway {
    /// An account's escrow on chain and what its unsettled requests at this node commit.
    pub async fn account(&self, account: Address) -> NodeResult<(U256, U256)> {
        let escrow = self.escrow(account).await?;
        Ok((escrow, self.core.store.accounts().committed(&account)?))
    }

    /// An account's escrow in the settlement contract.
    pub(crate) async fn escrow(&self, account: Address) -> NodeResult<U256> {
        let link = self.core.chain_or_err()?;
        let call = veritas_chain::contracts::Settlement::balanceOfCall { account };
        Ok(link.chain.view(link.contracts.settlement, call).await?)
    }

    /// What this gateway may charge an account: its escrow, capped by the allowance the account
    /// gave this gateway (the settlement contract takes no more).
    pub(crate) async fn chargeable(&self, account: Address) -> NodeResult<U256> {
        let link = self.core.chain_or_err()?;
        let escrow = self.escrow(account).await?;
        let call = veritas_chain::contracts::Settlement::allowanceCall { payer: account, gateway: self.address() };
        Ok(escrow.min(link.chain.view(link.contracts.settlement, call).await?))
    }

    /// The price of one request of `model`: what this gateway lists for it in the model registry.
    pub async fn price(&self, model: &ModelId) -> NodeResult<U256> {
        Ok(self.prices(model).await?.per_request)
    }

    /// The prices this gateway lists for a model in the model registry (read at most every
    /// 30 s). Only this gateway's own listing counts (nobody else can set what it charges, and
    /// validators hold each batch to it); a model it has not listed yet is listed at the node's
    /// default price first. Without a chain, nothing is charged.
    pub(crate) async fn prices(&self, model: &ModelId) -> NodeResult<Prices> {
        let Some(link) = self.core.chain() else { return Ok(Prices::default()) };
        if let Some((prices, read)) = lock(&self.payments.prices).get(model)
            && read.elapsed() < PRICE_TTL
        {
            return Ok(*prices);
        }
        let call = ModelRegistry::listingOfCall { modelId: model.digest(), publisher: self.address() };
        let prices = match link.chain.view(link.contracts.models, call).await {
            Ok(listing) if listing.listed => Prices { per_request: listing.perRequest, per_token: listing.perToken },
            Ok(_) => self.list(*model).await?,
            Err(err) if err.is_unreachable() => {
                // While the chain is away, the last prices read hold.
                let known = lock(&self.payments.prices).get(model).map(|(p, _)| *p);
                let Some(prices) = known else { return Err(err.into()) };
                tracing::warn!(%err, %model, "chain unreachable: using the last prices read");
                return Ok(prices);
            }
            Err(err) => return Err(err.into()),
        };
        lock(&self.payments.prices).insert(*model, (prices, Instant::now()));
        Ok(prices)
    }

    /// Lists a model at the node's default price, from this gateway's key.
    async fn list(&self, model: ModelId) -> NodeResult<Prices> {
        let link = self.core.chain_or_err()?;
        let prices = Prices { per_request: self.core.default_fee, per_token: U256::ZERO };
        let call = ModelRegistry::listCall {
            modelId: model.digest(),
            perRequest: prices.per_request,
            perToken: prices.per_token,
        };
        link.chain.send_call(&self.sender, link.contracts.models, call, link.confirmations).await?;
        tracing::info!(%model, price = %prices.per_request, "listed the model's price in the model registry");
        Ok(prices)
    }

    /// Checks that the paying account can cover this request on top of its unsettled ones, and
    /// holds the reservation until the claim is logged (then the store counts it). `tokens` is
    /// the most a language model may produce (0 for other models); the reservation is for that
    /// many, and the claim is charged for what it produced.
    pub(crate) async fn reserve(
        &self,
        model: &ModelId,
        account: Option<Address>,
        tokens: u64,
    ) -> NodeResult<(Bill, Option<Reservation<'_>>)> {
        let Some(link) = self.core.chain() else {
            // No chain: nobody is charged.
            let bill = Bill { payer: account.unwrap_or_default(), prices: Prices::default(), reserved: U256::ZERO };
            return Ok((bill, None));
        };
        let payer = account.or(link.default_payer).ok_or(NodeError::PaymentRequired)?;
        let prices = self.prices(model).await?;
        let bill = Bill::new(payer, prices, tokens).ok_or(NodeError::PriceOverflow { model: *model, tokens })?;
        let price = bill.reserved;
        let balance = match self.chargeable(payer).await {
            Ok(balance) => {
                lock(&self.payments.escrows).insert(payer, balance);
                balance
            }
            // While the chain is away, requests are checked against the last escrow read (and
            // everything served since is counted as committed), so the API keeps serving.
            Err(NodeError::Chain(err)) if err.is_unreachable() => {
                let known = lock(&self.payments.escrows).get(&payer).copied();
                let Some(balance) = known else { return Err(err.into()) };
                tracing::warn!(%err, %payer, "chain unreachable: checking against the last escrow read");
                balance
            }
            Err(err) => return Err(err),
        };
        let reservation = Reservation::new(&self.payments.reserved, payer, price);
        let committed = self.core.store.accounts().committed(&payer)?.saturating_add(reservation.others);
        if !affordable(balance, committed, price) {
            return Err(NodeError::InsufficientFunds { account: payer, balance, committed, price });
        }
        Ok((bill, Some(reservation)))
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
        let mut map = lock(reserved);
        let held = map.entry(payer).or_default();
        let others = *held;
        // Saturating: a payer whose reservations pass 2^256 can afford nothing more anyway.
        *held = held.saturating_add(price);
        Reservation { reserved, payer, price, others }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.reserved);
        if let Some(held) = map.get_mut(&self.payer) {
            *held = held.saturating_sub(self.price);
            if held.is_zero() {
                map.remove(&self.payer);
            }
        }
    }
}
