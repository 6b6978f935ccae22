//! The web chat, served at `/`, and the explorer, at `/explorer`: its files (`web/` in the repository, with the browser's verifier
//! built into `web/pkg` by `cargo xtask web`) are embedded in the binary, so a node serves the
//! same page wherever it runs, with no files beside it.

use axum::{
    Router,
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// Each file: its path under `/assets/` (the page itself at `/`), its media type and bytes.
const FILES: [(&str, &str, &[u8]); 8] = [
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../../web/index.html")),
    ("explorer.html", "text/html; charset=utf-8", include_bytes!("../../../web/explorer.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/app.js")),
    ("explorer.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/explorer.js")),
    ("receipt.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/receipt.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../../../web/style.css")),
    (
        "pkg/veritas_verifier_wasm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../web/pkg/veritas_verifier_wasm.js"),
    ),
    (
        "pkg/veritas_verifier_wasm_bg.wasm",
        "application/wasm",
        include_bytes!("../../../web/pkg/veritas_verifier_wasm_bg.wasm"),
    ),
];

/// The page may load only its own files and talk only to this node; WebAssembly may compile.
const POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                      img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                      frame-ancestors 'none'";

fn file(path: &str) -> Response {
    let Some((_, media_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == path) else {
        return (StatusCode::NOT_FOUND, format!("no such file: /assets/{path}")).into_response();
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The files change with the binary only; a browser checks again on every load.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /` (the chat), `GET /explorer` (the explorer) and `GET /assets/{path}` (their files).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route("/explorer", get(|| async { file("explorer.html") }))
        .route("/assets/{*path}", get(|Path(path): Path<String>| async move { file(&path) }))
}
