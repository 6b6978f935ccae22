//! What a request is charged: a model's price per request and per token (language models), from
//! the model registry or the node's default, and whether the paying account can cover it on top
//! of what its unsettled requests already commit. Every sum and product is checked: a price that
//! does not fit 256 bits is refused, never wrapped (`U256`'s operators wrap silently).

use alloy_primitives::U256;
use veritas_primitives::Address;

use crate::store::Charge;

/// A model's prices, in the token's smallest unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prices {
    /// Per request.
    pub per_request: U256,
    /// Per generated token (language models).
    pub per_token: U256,
}

impl Prices {
    /// The price of a request that produces `tokens` tokens; `None` when it does not fit 256
    /// bits.
    pub fn of(&self, tokens: u64) -> Option<U256> {
        self.per_request.checked_add(self.per_token.checked_mul(U256::from(tokens))?)
    }
}

/// Who pays for a request, at which prices: the charge follows from what it produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bill {
    /// The paying account.
    pub payer: Address,
    /// The model's prices when the request was admitted.
    pub prices: Prices,
    /// What was reserved: the price of the most it could produce.
    pub reserved: U256,
}

impl Bill {
    /// A bill at `prices` for a request that may produce up to `max_tokens` tokens; `None` when
    /// that price does not fit 256 bits.
    pub fn new(payer: Address, prices: Prices, max_tokens: u64) -> Option<Bill> {
        Some(Bill { payer, prices, reserved: prices.of(max_tokens)? })
    }

    /// The charge of an answer that produced `tokens` tokens (0 for models other than language
    /// models): never more than what was reserved for the most it could produce.
    pub fn charge(&self, tokens: u64) -> Charge {
        let fee = self.prices.of(tokens).map_or(self.reserved, |fee| fee.min(self.reserved));
        Charge { payer: self.payer, fee }
    }
}

/// Whether an escrow of `balance`, of which `committed` is held by unsettled requests, covers
/// one more request at `price`.
pub fn affordable(balance: U256, committed: U256, price: U256) -> bool {
    committed.checked_add(price).is_some_and(|needed| balance >= needed)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn u(n: u64) -> U256 {
        U256::from(n)
    }

    #[test]
    fn requests_are_charged_per_request_and_per_token() {
        let prices = Prices { per_request: u(1_000), per_token: u(10) };
        for (tokens, expected) in [(0, 1_000), (1, 1_010), (512, 6_120)] {
            assert_eq!(prices.of(tokens), Some(u(expected)), "{tokens} tokens");
        }
        let bill = Bill::new(Address::repeat_byte(1), prices, 16).unwrap();
        assert_eq!(bill.reserved, u(1_160));
        assert_eq!(bill.charge(3), Charge { payer: Address::repeat_byte(1), fee: u(1_030) });
        assert_eq!(bill.charge(99).fee, u(1_160), "never more than reserved");
    }

    #[test]
    fn a_price_past_256_bits_is_refused_not_wrapped() {
        assert_eq!(Prices { per_request: U256::MAX, per_token: u(1) }.of(5), None);
        assert_eq!(Prices { per_request: u(1), per_token: U256::MAX / u(2) }.of(3), None);
        assert_eq!(Prices { per_request: U256::MAX, per_token: u(1) }.of(0), Some(U256::MAX));
        assert_eq!(Bill::new(Address::ZERO, Prices { per_request: u(1), per_token: U256::MAX }, 2), None);
    }

    #[test]
    fn an_account_covers_a_request_only_with_what_its_unsettled_requests_leave() {
        for (balance, committed, price, expected) in
            [(10, 0, 10, true), (10, 1, 10, false), (10, 5, 5, true), (0, 0, 0, true), (0, 0, 1, false)]
        {
            assert_eq!(affordable(u(balance), u(committed), u(price)), expected, "{balance} {committed} {price}");
        }
        assert!(!affordable(U256::MAX, U256::MAX, u(1)), "no overflow into approval");
    }

    proptest! {
        #[test]
        fn fewer_tokens_never_cost_more(per_request in any::<u64>(), per_token in any::<u32>(), a in 0u64..100_000, b in 0u64..100_000) {
            let prices = Prices { per_request: u(per_request), per_token: u(u64::from(per_token)) };
            prop_assert!(prices.of(a.min(b)).unwrap() <= prices.of(a.max(b)).unwrap());
        }
    }
}
