//! What a node checks before it lets a request in: the Host a loopback node is asked by, and
//! the operator behind a push.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    extract::Request,
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use veritas_primitives::publish::PushEnvelope;

use crate::{ApiError, auth::CALL_WINDOW, routes::AppState};

/// Whether a Host header names this machine's loopback interface (any port).
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8080`
        Some(rest) => rest.split_once(']').map_or(rest, |(name, _)| name),
        None => host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "::1"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// On a node bound to loopback, refuses requests whose Host is not a loopback name: a page
/// whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name, and gets 403.
pub(crate) async fn loopback_host(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|value| value.to_str().ok()).map(str::to_owned);
    // HTTP/2 carries the authority in the URI rather than a Host header.
    let host = host.or_else(|| request.uri().authority().map(|authority| authority.as_str().to_owned()));
    match host {
        Some(host) if is_loopback_host(&host) => next.run(request).await,
        host => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "this node listens on loopback and answers only requests for localhost or 127.0.0.1, not {}",
                host.as_deref().unwrap_or("a request without a Host")
            ),
        )
        .into_response(),
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The operator a push is from, checked before a byte of the body is read: not from a web page
/// (no `Origin`), a raw `application/octet-stream` body, the publisher's signature over this node,
/// this path and query and the file's SHA-256 ([`PushEnvelope`]) within [`CALL_WINDOW`] s, a
/// nonce not used before, and a publisher among the node's operators.
pub(crate) fn operator_push(state: &AppState, headers: &HeaderMap, target: &str) -> Result<PushEnvelope, ApiError> {
    if headers.contains_key(header::ORIGIN) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "browser_refused",
            "models are not pushed from web pages (the request carries an Origin header); push with `veritas model push`",
        ));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/octet-stream") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "a model is uploaded as the raw file with Content-Type: application/octet-stream, not {:?}",
                content_type
            ),
        ));
    }
    let envelope = PushEnvelope::from_headers(|name| headers.get(name).and_then(|value| value.to_str().ok()))
        .map_err(|err| unauthorized(format!("bad push signature: {err}")))?
        .ok_or_else(|| {
            unauthorized(
                "pushing a model needs an operator's signature (X-Veritas-Publisher, X-Veritas-Content-Sha256, \
                 X-Veritas-Push-Time, X-Veritas-Push-Nonce, X-Veritas-Push-Signature): `veritas model push` signs with \
                 VERITAS_OPERATOR_KEY, else the operator.key in VERITAS_HOME",
            )
        })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now.abs_diff(envelope.timestamp) > CALL_WINDOW {
        return Err(unauthorized(format!(
            "the push was signed at {}, more than {CALL_WINDOW} s from this node's time {now}",
            envelope.timestamp
        )));
    }
    let core = state.node.core();
    envelope
        .verify(&core.domain(), core.key(), target)
        .map_err(|err| unauthorized(format!("bad push signature: {err}")))?;
    if !state.operators.contains(&envelope.publisher) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_operator",
            format!(
                "{} is not an operator of this node; a node takes pushes from the keys it is started with \
                 (--operator ADDRESS, and the operator.key in its data directory)",
                envelope.publisher
            ),
        ));
    }
    let once = veritas_primitives::keccak256(
        [b"veritas.push".as_slice(), envelope.publisher.as_slice(), envelope.nonce.as_slice()].concat(),
    );
    let first = core
        .store()
        .nonces()
        .first_use(&once, envelope.timestamp.saturating_add(CALL_WINDOW), now)
        .map_err(veritas_node::NodeError::from)?;
    if !first {
        return Err(unauthorized("this push was already made; each push carries a new nonce"));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn only_loopback_names_pass() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:3000",
            "127.1.2.3",
            "[::1]:80",
            "[::1]",
            "LOCALHOST.",
            "app.localhost:1",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "evil.example",
            "10.0.0.1:80",
            "[::2]:80",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
