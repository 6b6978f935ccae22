//! Who pays for a request: an API key (`Authorization: Bearer vk_…`), or a request signed by
//! the paying account (EIP-191 over the chain, this gateway, the request and a nonce, see
//! `veritas_primitives::request`; each nonce accepted once, remembered on disk), or nobody named
//! (then the node's default payer, which only the development network has).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header},
};
use serde::de::DeserializeOwned;
use veritas_primitives::{
    Address,
    call::{CallEnvelope, CallTarget},
    request::{
        ACCOUNT_HEADER, NONCE_HEADER, RequestScope, SIGNATURE_HEADER, SignedRequest, TIMESTAMP_HEADER, verify_request,
    },
};

use crate::{ApiError, routes::AppState};

/// How veritas API keys begin.
pub const API_KEY_PREFIX: &str = "vk_";

/// How far a signed request's time may be from the node's, in seconds.
pub const SIGNATURE_WINDOW: u64 = 300;

/// A JSON body with the account that pays for it, authenticated.
pub(crate) struct Paid<T> {
    /// The paying account, if the request names one.
    pub account: Option<Address>,
    /// The body.
    pub body: T,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| unauthorized(format!("the {name} header is not ASCII"))))
        .transpose()
}

/// The account a request authenticates as, if any, counted against its rate limit.
pub(crate) fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<Address>, ApiError> {
    let account = authenticated(state, headers, method, path, body)?;
    if let Some(account) = account {
        state.limiters.account(account)?;
    }
    Ok(account)
}

fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<Address>, ApiError> {
    if let Some(authorization) = header(headers, header::AUTHORIZATION.as_str())? {
        let key = authorization
            .strip_prefix("Bearer ")
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <API key>`"))?;
        let key = key.trim();
        // Clients that must send some key (the openai package always does) may send any
        // placeholder where nobody needs to be named: on a node that does not settle, or on
        // the development network, where its default payer pays. A veritas key (`vk_…`) must
        // always be one the node knows.
        let core = state.node.core();
        if !key.starts_with(API_KEY_PREFIX) && (core.chain().is_none() || core.default_payer().is_some()) {
            return Ok(None);
        }
        return Ok(Some(core.api_key_account(key)?));
    }
    let Some(signature) = header(headers, SIGNATURE_HEADER)? else {
        return Ok(None);
    };
    let account: Address = header(headers, ACCOUNT_HEADER)?
        .ok_or_else(|| unauthorized(format!("a signed request needs the {ACCOUNT_HEADER} header")))?
        .parse()
        .map_err(|_| unauthorized(format!("{ACCOUNT_HEADER} is not an address")))?;
    let timestamp: u64 = header(headers, TIMESTAMP_HEADER)?
        .ok_or_else(|| unauthorized(format!("a signed request needs the {TIMESTAMP_HEADER} header")))?
        .parse()
        .map_err(|_| unauthorized(format!("{TIMESTAMP_HEADER} must be Unix seconds")))?;
    let nonce = header(headers, NONCE_HEADER)?.ok_or_else(|| {
        unauthorized(format!("a signed request needs the {NONCE_HEADER} header (16 to 64 hex digits)"))
    })?;
    let gateway = state.node.gateway().map_err(|_| {
        unauthorized("this node is not a gateway: it takes no signed requests; send them to the network's gateway")
    })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(timestamp) > SIGNATURE_WINDOW {
        return Err(unauthorized(format!(
            "the request was signed at {timestamp}, more than {SIGNATURE_WINDOW} s from the node's time {now}"
        )));
    }
    let scope = RequestScope { chain_id: state.node.core().domain().chain_id, gateway: gateway.address() };
    let request = SignedRequest { method, path, timestamp, nonce, body };
    verify_request(account, signature, &scope, &request)
        .map_err(|err| unauthorized(format!("bad request signature: {err}")))?;
    // Each account's nonce once, remembered on disk while the signature's time is acceptable.
    let once = veritas_primitives::keccak256([account.as_slice(), nonce.to_ascii_lowercase().as_bytes()].concat());
    // On disk with the request's own durable write (its claim logged), which the answer waits
    // for; no sync of its own here.
    let first = state
        .node
        .core()
        .store()
        .nonces()
        .first_use_lazily(&once, timestamp.saturating_add(SIGNATURE_WINDOW), now)
        .map_err(veritas_node::NodeError::from)?;
    if !first {
        return Err(unauthorized("this signed request's nonce was already used; sign each request with a new nonce"));
    }
    Ok(Some(account))
}

/// How far a call's time may be from the node's, in seconds.
pub const CALL_WINDOW: u64 = 60;

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

/// The registered gateway that signed this call to this node. Everyone else is refused: 401
/// without a valid gateway signature over this call (this node, this path, this body, a time
/// within [`CALL_WINDOW`] s, a nonce not used before), 403 when the signer is not a staked
/// gateway in the node registry. The signature is checked before anything is read or written,
/// so a stranger's call costs a recovery and nothing else.
pub(crate) async fn gateway_call(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Address, ApiError> {
    let envelope = CallEnvelope::from_headers(|name| headers.get(name).and_then(|v| v.to_str().ok()))
        .map_err(|err| unauthorized(format!("bad gateway call: {err}")))?
        .ok_or_else(|| {
            unauthorized(
                "this node takes work, verdict and batch requests only from the network's registered gateways; a call \
                 must carry the gateway's signature (X-Veritas-Gateway, X-Veritas-Call-Time, X-Veritas-Call-Nonce, \
                 X-Veritas-Call-Signature). Clients send their requests to a gateway.",
            )
        })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(envelope.timestamp) > CALL_WINDOW {
        return Err(unauthorized(format!(
            "the call was signed at {}, more than {CALL_WINDOW} s from this node's time {now}",
            envelope.timestamp
        )));
    }
    let core = state.node.core();
    let mut ours = vec![core.key()];
    ours.extend(state.node.validator().ok().map(|validator| validator.address()));
    let domain = core.domain();
    let signed_for_us = ours.iter().any(|to| {
        let target = CallTarget { to: *to, method, path, body };
        envelope.verify(&domain, &target).is_ok()
    });
    if !signed_for_us {
        return Err(unauthorized(format!(
            "bad gateway call: the signature is not {}'s over this call to this node ({}) in this network",
            envelope.gateway,
            ours.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
        )));
    }
    match core.is_gateway(envelope.gateway).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(forbidden(format!(
                "{} is not a registered gateway with stake in the node registry; this node takes calls from \
                 registered gateways only",
                envelope.gateway
            )));
        }
        Err(veritas_node::NodeError::NoChain) => {
            return Err(forbidden(
                "this node runs without a chain: it cannot tell a registered gateway, and takes no calls from other nodes",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    let once = veritas_primitives::keccak256(
        [b"veritas.call".as_slice(), envelope.gateway.as_slice(), envelope.nonce.as_slice()].concat(),
    );
    let first = core.first_use(once, envelope.timestamp.saturating_add(CALL_WINDOW), now).await?;
    if !first {
        return Err(unauthorized("this gateway call was already made; each call carries a new nonce"));
    }
    Ok(envelope.gateway)
}

/// A request body, read whole.
async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid_request" };
        ApiError::new(status, code, format!("cannot read the request body: {}", rejection.body_text()))
    })
}

/// A call from a registered gateway (see [`gateway_call`]), with its body's bytes.
pub(crate) struct FromGateway {
    /// The gateway.
    pub gateway: Address,
    /// The body.
    pub body: Bytes,
}

impl FromRequest<AppState> for FromGateway {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (method, path, headers) = (req.method().to_string(), req.uri().path().to_owned(), req.headers().clone());
        let body = body_bytes(req, state).await?;
        let gateway = gateway_call(state, &headers, &method, &path, &body).await?;
        Ok(FromGateway { gateway, body })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for Paid<T> {
    type Rejection = ApiError;

    /// On a gateway, the paying account the request authenticates as; on a node that runs no
    /// gateway (an inference node), only a registered gateway's call, which pays nobody here.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (method, path, headers) = (req.method().to_string(), req.uri().path().to_owned(), req.headers().clone());
        let bytes = body_bytes(req, state).await?;
        let account = if state.node.gateway().is_ok() {
            authenticate(state, &headers, &method, &path, &bytes)?
        } else {
            gateway_call(state, &headers, &method, &path, &bytes).await?;
            None
        };
        let body = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::bad_request(format!("malformed JSON body: {err}")))?;
        Ok(Paid { account, body })
    }
}
