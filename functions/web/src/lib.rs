//! The `web` function: the applicants' web client, served on the API's own origin so that
//! it needs no CORS and no second domain. The files in `web/` are plain HTML, JavaScript
//! modules and CSS (no build step); they are compiled into the binary, so a deploy is one
//! artefact and a request never touches a disk or a bucket.
//!
//! It is a router of its own rather than `paspor_http::Routes`: the API's middleware pins
//! `default-src 'none'` on every answer, which is right for JSON and would forbid the page
//! its own scripts. The page gets a CSP that allows exactly its own files, the API, and the
//! storage that documents are uploaded to.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use sha2::{Digest, Sha256};

/// Every route this function serves, for the SAM template's check.
pub const ROUTES: [(Method, &str); 2] = [(Method::GET, "/"), (Method::GET, "/assets/{*path}")];

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../../../web/", $path)),
        }
    };
}

/// The page and everything it loads. A new file in `web/assets/` must be listed here (a
/// test checks that the page loads nothing unlisted).
pub static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("assets/app.css", "text/css; charset=utf-8"),
    asset!("assets/app.js", "text/javascript; charset=utf-8"),
    asset!("assets/api.js", "text/javascript; charset=utf-8"),
    asset!("assets/i18n.js", "text/javascript; charset=utf-8"),
    asset!("assets/icon.svg", "image/svg+xml"),
];

/// One file as sent: a strong validator of its plain bytes, and its gzipped bytes with theirs.
struct Encoded {
    plain_tag: HeaderValue,
    gzip: Option<(Vec<u8>, HeaderValue)>,
}

/// Compressed and tagged once per cold start: a slow phone line carries a quarter of the
/// bytes, and no request ever compresses anything.
static ENCODED: LazyLock<Vec<Encoded>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = hex::encode(&Sha256::digest(a.bytes)[..12]);
            let tag = |suffix: &str| {
                HeaderValue::from_str(&format!("\"{digest}{suffix}\""))
                    .unwrap_or(HeaderValue::from_static("\"0\""))
            };
            let gzip = gzip(a.bytes)
                .filter(|gz| gz.len() < a.bytes.len())
                .map(|gz| (gz, tag("-gz")));
            Encoded {
                plain_tag: tag(""),
                gzip,
            }
        })
        .collect()
});

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// Whether the client takes gzip: `gzip` (or `*`) listed, and not with `q=0`.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where documents are uploaded (the bucket's origin on AWS); `None` when the upload
    /// target is this same origin, as in `paspor-local`.
    pub upload_origin: Option<String>,
}

impl Config {
    /// `PASPOR_UPLOAD_ORIGIN`, where set.
    pub fn from_env() -> Self {
        Self {
            upload_origin: std::env::var("PASPOR_UPLOAD_ORIGIN")
                .ok()
                .filter(|s| !s.trim().is_empty()),
        }
    }

    fn csp(&self) -> HeaderValue {
        // An origin is one token of scheme, host and port: anything else would widen the
        // policy (a space or a `;` would add sources or directives), so it is dropped.
        let upload = self
            .upload_origin
            .as_deref()
            .map(str::trim)
            .filter(|o| {
                // https, or plain http to this machine's loopback (a storage stand-in: the
                // stack's S3 front), never plain http to anywhere else.
                if let Some(port) = o.strip_prefix("http://127.0.0.1:") {
                    return !port.is_empty() && port.chars().all(|c| c.is_ascii_digit());
                }
                o.strip_prefix("https://").is_some_and(|h| {
                    h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
                })
            })
            .map(|o| format!(" {o}"))
            .unwrap_or_default();
        let policy = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             connect-src 'self'{upload}; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'"
        );
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
    }
}

#[derive(Clone)]
struct Site {
    csp: HeaderValue,
}

/// The finished router: `/` and `/assets/…`, each with its own security headers.
pub fn router(config: Config) -> Router {
    let site = Site { csp: config.csp() };
    Router::new()
        .route(ROUTES[0].1, get(index))
        .route(ROUTES[1].1, get(asset))
        .with_state(site)
}

async fn index(State(site): State<Site>, headers: HeaderMap) -> Response {
    serve(&site, "index.html", &headers)
}

async fn asset(State(site): State<Site>, Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&site, &format!("assets/{path}"), &headers)
}

fn serve(site: &Site, path: &str, request: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        let mut response = (StatusCode::NOT_FOUND, "Not found\n").into_response();
        secure(site, response.headers_mut());
        return response;
    };
    let asset = &ASSETS[i];
    let encoded = &ENCODED[i];
    let (body, etag, gzipped): (&[u8], _, _) = match &encoded.gzip {
        Some((gz, tag)) if accepts_gzip(request) => (gz, tag.clone(), true),
        _ => (asset.bytes, encoded.plain_tag.clone(), false),
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag.to_str().unwrap_or(""))
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            body.to_vec(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if gzipped && !fresh {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, etag);
    // Always revalidated: the modules import one another by plain names, so a page must
    // never mix two deploys' files; a 304 costs one small round trip.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(site, h);
    response
}

fn secure(site: &Site, h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, site.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        http::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("geolocation=(self), camera=(), microphone=()"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(
        router: Router,
        path: &str,
        inm: Option<&str>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(path);
        if let Some(tag) = inm {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let resp = router
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body.to_vec())
    }

    #[tokio::test]
    async fn the_page_and_its_files_with_their_types_and_policy() {
        let r = router(Config::default());
        let (status, h, body) = get(r.clone(), "/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        let html = String::from_utf8(body).expect("utf-8");
        assert!(html.contains("<html lang=\"id\""));
        for (path, ty) in [
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/icon.svg", "image/svg+xml"),
        ] {
            let (status, h, body) = get(r.clone(), path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(h[header::CONTENT_TYPE], ty, "{path}");
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(!body.is_empty());
        }
        let (status, h, _) = get(r, "/assets/../Cargo.toml", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(h.contains_key(header::CONTENT_SECURITY_POLICY));
    }

    #[tokio::test]
    async fn a_cached_copy_is_revalidated_with_its_etag() {
        let r = router(Config::default());
        let (_, h, _) = get(r.clone(), "/assets/app.js", None).await;
        let tag = h[header::ETAG].to_str().expect("etag").to_owned();
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let (status, _, body) = get(r.clone(), "/assets/app.js", Some(&tag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (status, _, _) = get(r, "/assets/app.js", Some("\"stale\"")).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn gzip_when_asked_for_with_its_own_etag() {
        use std::io::Read;
        let r = router(Config::default());
        let resp = r
            .clone()
            .oneshot(
                Request::get("/assets/app.js")
                    .header(header::ACCEPT_ENCODING, "br, gzip, deflate")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(resp.headers()[header::VARY], "accept-encoding");
        let gz_tag = resp.headers()[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut plain)
            .expect("gunzip");
        let (_, h, original) = get(r.clone(), "/assets/app.js", None).await;
        assert_eq!(plain, original);
        assert!(
            body.len() * 3 < original.len(),
            "{} of {}",
            body.len(),
            original.len()
        );
        assert!(!h.contains_key(header::CONTENT_ENCODING));
        assert_ne!(h[header::ETAG].to_str().expect("etag"), gz_tag);
        let accept = |v: &'static str| {
            accepts_gzip(&HeaderMap::from_iter([(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(v),
            )]))
        };
        assert!(!accept("gzip;q=0, identity"));
        assert!(accept("gzip;q=0.5"));
        assert!(!accept("identity"));
    }

    #[test]
    fn the_upload_origin_joins_connect_src_only_when_it_is_one_https_origin() {
        let csp = |o: &str| {
            Config {
                upload_origin: Some(o.into()),
            }
            .csp()
            .to_str()
            .expect("csp")
            .to_owned()
        };
        assert!(
            csp("https://docs.s3.ap-southeast-3.amazonaws.com")
                .contains("connect-src 'self' https://docs.s3.ap-southeast-3.amazonaws.com;")
        );
        assert!(csp("https://x.example; script-src *").contains("connect-src 'self';"));
        assert!(csp("http://plain.example").contains("connect-src 'self';"));
        assert!(csp("http://127.0.0.1:9000").contains("connect-src 'self' http://127.0.0.1:9000;"));
        // Loopback is a port only: no host of its own, nothing after the port.
        assert!(csp("http://127.0.0.1:9000.evil.example").contains("connect-src 'self';"));
        assert!(csp("http://127.0.0.1:").contains("connect-src 'self';"));
    }

    #[test]
    fn every_file_the_page_names_is_embedded() {
        let html = std::str::from_utf8(ASSETS[0].bytes).expect("utf-8");
        let mut named = 0;
        for part in html.split("\"assets/").skip(1) {
            let name = part.split('"').next().expect("name");
            assert!(
                ASSETS.iter().any(|a| a.path == format!("assets/{name}")),
                "index.html loads assets/{name}, which is not embedded"
            );
            named += 1;
        }
        assert!(named >= 3);
        for js in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(js.bytes).expect("utf-8");
            for part in text.split("from './").skip(1) {
                let name = part.split('\'').next().expect("name");
                assert!(
                    ASSETS.iter().any(|a| a.path == format!("assets/{name}")),
                    "{} imports {name}, which is not embedded",
                    js.path
                );
            }
        }
    }
}
