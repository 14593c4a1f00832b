//! The language of human sentences in answers: Indonesian unless `Accept-Language` prefers
//! English.

use axum::{extract::FromRequestParts, http::request::Parts};
use http::HeaderMap;
use paspor_domain::mail::Lang;

pub fn from_headers(headers: &HeaderMap) -> Lang {
    let Some(raw) = headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::Id;
    };
    let mut best = (Lang::Id, -1.0f32);
    for part in raw.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = if tag == "en" || tag.starts_with("en-") {
            Lang::En
        } else if tag == "id" || tag.starts_with("id-") || tag == "in" {
            Lang::Id
        } else {
            continue;
        };
        if q > best.1 {
            best = (lang, q);
        }
    }
    best.0
}

/// The caller's language, as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct RequestLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for RequestLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(from_headers(&parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(v: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, v.parse().expect("header"));
        from_headers(&h)
    }

    #[test]
    fn picks_preferred() {
        assert_eq!(from_headers(&HeaderMap::new()), Lang::Id);
        assert_eq!(lang("en"), Lang::En);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("id-ID,id;q=0.9,en;q=0.8"), Lang::Id);
        assert_eq!(lang("fr, en;q=0.5"), Lang::En);
        assert_eq!(lang("fr"), Lang::Id);
        assert_eq!(lang("en;q=0.3, id;q=0.7"), Lang::Id);
    }
}
