//! Model prices per publisher: nobody sets the prices another gateway charges.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use veritas_chain::{ChainError, contracts::ModelRegistry};
use veritas_primitives::keccak256;

use super::{Net, key, reverted};

fn list(net: &mut Net, publisher: Address, model: B256, per_request: u64, per_token: U256) {
    let call = ModelRegistry::listCall { modelId: model, perRequest: U256::from(per_request), perToken: per_token };
    net.evm.send(publisher, net.models, call).unwrap();
}

/// Publishes `model` under a name of its own.
fn publish(
    net: &mut Net,
    publisher: Address,
    model: B256,
    per_request: u64,
) -> Result<veritas_chain::Outcome, ChainError> {
    let call = ModelRegistry::publishCall {
        modelId: model,
        name: model.to_string(),
        metadataUri: String::new(),
        pricePerRequest: U256::from(per_request),
        pricePerToken: U256::from(1),
    };
    net.evm.send(publisher, net.models, call)
}

fn price_from(net: &mut Net, model: B256, publisher: Address, tokens: U256) -> Result<U256, ChainError> {
    net.evm.view(net.admin, net.models, ModelRegistry::priceFromCall { modelId: model, publisher, tokens })
}

fn listing(net: &mut Net, model: B256, publisher: Address) -> (U256, U256, bool) {
    let listing =
        net.evm.view(net.admin, net.models, ModelRegistry::listingOfCall { modelId: model, publisher }).unwrap();
    (listing.perRequest, listing.perToken, listing.listed)
}

fn price_of(net: &mut Net, model: B256, tokens: u64) -> U256 {
    net.evm
        .view(net.admin, net.models, ModelRegistry::priceOfCall { modelId: model, tokens: U256::from(tokens) })
        .unwrap()
}

#[test]
fn a_strangers_publish_or_listing_of_our_model_leaves_our_prices_alone() {
    let mut net = Net::new(&[]);
    let (us, stranger) = (key(30).address(), key(31).address());
    let model = keccak256(b"our model's manifest");
    list(&mut net, us, model, 10, U256::from(2));
    // A stranger front-runs the model's publication and lists a price of its own.
    publish(&mut net, stranger, model, 0).unwrap();
    list(&mut net, stranger, model, 999, U256::from(999));
    assert_eq!(listing(&mut net, model, us), (U256::from(10), U256::from(2), true));
    assert_eq!(price_from(&mut net, model, us, U256::from(100)).unwrap(), U256::from(210), "our price");
    assert_eq!(price_from(&mut net, model, stranger, U256::from(1)).unwrap(), U256::from(1_998), "its price");
    // The record is the stranger's, and so is `priceOf` (what contract requests pay): that is why
    // a gateway's price is read with `priceFrom`.
    assert_eq!(price_of(&mut net, model, 1), U256::from(1_998));
    reverted(publish(&mut net, us, model, 10), "AlreadyPublished");
    assert_eq!(price_from(&mut net, model, us, U256::from(100)).unwrap(), U256::from(210));

    // The other way round: our model published, the stranger can neither reprice nor relist it.
    let ours = keccak256(b"our second model");
    publish(&mut net, us, ours, 7).unwrap();
    let reprice =
        ModelRegistry::setPricesCall { modelId: ours, pricePerRequest: U256::ZERO, pricePerToken: U256::ZERO };
    reverted(net.evm.send(stranger, net.models, reprice), "NotOwner");
    list(&mut net, stranger, ours, 0, U256::ZERO);
    assert_eq!(price_from(&mut net, ours, us, U256::from(3)).unwrap(), U256::from(10));
    assert_eq!(price_of(&mut net, ours, 3), U256::from(10), "nor the price contract requests pay");
}

#[test]
fn publishing_and_repricing_keep_the_owners_listing() {
    let mut net = Net::new(&[]);
    let owner = key(30).address();
    let model = keccak256(b"manifest");
    let outcome = publish(&mut net, owner, model, 10).unwrap();
    let listed = outcome.logs.iter().find_map(|log| ModelRegistry::Listed::decode_log(log).ok()).unwrap();
    assert_eq!((listed.modelId, listed.publisher, listed.perRequest), (model, owner, U256::from(10)));
    assert_eq!(listing(&mut net, model, owner), (U256::from(10), U256::from(1), true));
    let reprice =
        ModelRegistry::setPricesCall { modelId: model, pricePerRequest: U256::from(5), pricePerToken: U256::from(2) };
    net.evm.send(owner, net.models, reprice).unwrap();
    assert_eq!(price_from(&mut net, model, owner, U256::from(10)).unwrap(), U256::from(25));
    list(&mut net, owner, model, 7, U256::ZERO);
    assert_eq!(price_of(&mut net, model, 10), U256::from(7), "the owner's listing is the record's price");
    let model_record = net.evm.view(owner, net.models, ModelRegistry::modelOfCall { modelId: model }).unwrap();
    assert_eq!((model_record.pricePerRequest, model_record.pricePerToken), (U256::from(7), U256::ZERO));
}

#[test]
fn a_price_from_somebody_who_never_listed_is_refused() {
    let mut net = Net::new(&[]);
    let (model, nobody) = (keccak256(b"manifest"), key(32).address());
    assert_eq!(listing(&mut net, model, nobody), (U256::ZERO, U256::ZERO, false));
    let expected = format!("NotListed {{ modelId: {model}, publisher: {nobody:?} }}");
    reverted(price_from(&mut net, model, nobody, U256::ZERO), &expected);
    // Free is a price, not the absence of one.
    list(&mut net, nobody, model, 0, U256::ZERO);
    assert_eq!(price_from(&mut net, model, nobody, U256::from(5)).unwrap(), U256::ZERO);
}

#[test]
fn a_price_that_would_overflow_reverts() {
    let mut net = Net::new(&[]);
    let (model, us) = (keccak256(b"manifest"), key(30).address());
    list(&mut net, us, model, 1, U256::MAX);
    assert_eq!(price_from(&mut net, model, us, U256::ZERO).unwrap(), U256::from(1));
    for tokens in [U256::from(1), U256::from(2), U256::MAX] {
        reverted(price_from(&mut net, model, us, tokens), "Panic");
    }
    list(&mut net, us, model, 2, U256::from(2));
    reverted(price_from(&mut net, model, us, U256::MAX), "Panic");
}
