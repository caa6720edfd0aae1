//! The storefront: a browser client of `/api`, plain HTML, CSS and JavaScript modules
//! compiled into the binary, so the gateway serves it without a build step or files on
//! disk. Any GET outside `/api` that names no file answers `index.html`, which routes
//! in the browser; unknown `/api` paths stay JSON 404s. Every storefront answer carries
//! a Content-Security-Policy that allows no inline script.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The storefront's content security policy: scripts, styles and API calls only from
/// the gateway itself, product images from any https origin, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' https:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its path under `/`, its bytes and its content type.
struct Asset {
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

macro_rules! assets {
    ($($path:literal => $content_type:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            body: include_bytes!(concat!("../storefront", $path)),
            content_type: $content_type,
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `services/gateway/storefront` (a unit test checks none is missing).
static ASSETS: &[Asset] = assets! {
    "/index.html" => "text/html; charset=utf-8",
    "/app.css" => "text/css; charset=utf-8",
    "/favicon.svg" => "image/svg+xml",
    "/js/main.js" => JS,
    "/js/api.js" => JS,
    "/js/dom.js" => JS,
    "/js/session.js" => JS,
    "/js/stream.js" => JS,
    "/js/format.js" => JS,
    "/js/pages/shop.js" => JS,
    "/js/pages/product.js" => JS,
    "/js/pages/checkout.js" => JS,
    "/js/pages/cart.js" => JS,
    "/js/pages/order.js" => JS,
    "/js/pages/orders.js" => JS,
    "/js/pages/account.js" => JS,
    "/js/pages/seller.js" => JS,
    "/js/pages/admin.js" => JS,
};

/// Each file's entity tag, a hash of its bytes: browsers revalidate (`no-cache`) and
/// get 304 while the binary serves the same file.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let mut hasher = DefaultHasher::new();
            asset.body.hash(&mut hasher);
            HeaderValue::try_from(format!("\"{:016x}\"", hasher.finish())).expect("ASCII")
        })
        .collect()
});

/// The router's fallback: the storefront for paths outside `/api`, the API's 404 inside.
pub async fn serve(request: Request) -> Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return secured(response);
    }
    let found = match find(path) {
        Some(index) => index,
        // A path that looks like a file names a missing one; anything else is a page.
        None if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.')) =>
        {
            return secured((StatusCode::NOT_FOUND, "not found").into_response());
        }
        None => find("/index.html").expect("index.html is embedded"),
    };
    secured(file(found, request.headers()))
}

fn find(path: &str) -> Option<usize> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().position(|asset| asset.path == path)
}

fn file(index: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let etag = ETAGS[index].clone();
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    // Revalidate every time: the files have no fingerprint in their names, and a 304
    // costs one small round trip.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::{header, Request, StatusCode};
    use axum::response::Response;

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        super::serve(request.body(Body::empty()).unwrap()).await
    }

    async fn text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_root_and_any_page_path_answer_index_html_with_the_security_headers() {
        for path in ["/", "/products/abc", "/orders/1/anything"] {
            let response = get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(csp.contains("img-src 'self' https:"), "{csp}");
            assert!(csp.contains("connect-src 'self'"), "{csp}");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
            assert!(text(response).await.contains("<!doctype html>"));
        }
    }

    #[tokio::test]
    async fn files_have_their_content_type_and_revalidate_with_their_etag() {
        let response = get("/js/main.js", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let etag = response.headers()[header::ETAG]
            .to_str()
            .unwrap()
            .to_owned();
        let again = get("/js/main.js", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            get("/app.css", &[]).await.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn a_missing_file_is_404_and_unknown_api_paths_stay_json_404s() {
        assert_eq!(
            get("/js/nope.js", &[]).await.status(),
            StatusCode::NOT_FOUND
        );
        for path in ["/api", "/api/nope", "/api/orders/x/y/z"] {
            let response = get(path, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(text(response).await.contains("\"not_found\""), "{path}");
        }
    }

    #[test]
    fn every_file_of_the_storefront_directory_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("storefront");
        let mut pending = vec![root.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let served = format!("/{}", path.strip_prefix(&root).unwrap().display());
                assert!(super::find(&served).is_some(), "{served} is not in ASSETS");
            }
        }
    }

    #[test]
    fn the_pages_hold_no_inline_script() {
        let index = std::str::from_utf8(super::ASSETS[0].body).unwrap();
        for script in index.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap();
            assert!(tag.contains("src="), "inline script: <script{tag}>");
        }
        let handlers = index.split(" on").skip(1).filter(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert_eq!(handlers.count(), 0, "an inline event handler");
    }
}
