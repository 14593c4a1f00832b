//! Extractors that answer problem+json when they refuse: JSON bodies and bearer tokens.

use axum::{
    extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request},
    http::request::Parts,
};
use bytes::Bytes;
use http::{StatusCode, header};
use paspor_domain::accounts::Principal;
use serde::de::DeserializeOwned;

use crate::{ApiError, AppState};
use paspor_domain::text;

/// A JSON request body: `application/json`, within the size limit, well-formed, of the
/// expected shape. Anything else is a 4xx naming what was wrong.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                text::UNSUPPORTED_MEDIA_TYPE,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    text::PAYLOAD_TOO_LARGE,
                )
            } else {
                ApiError::invalid_body(rejection.body_text())
            }
        })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(de) {
            Ok(value) => Ok(Self(value)),
            Err(err) => {
                let inner = err.inner();
                if inner.is_syntax() || inner.is_eof() || inner.is_io() {
                    return Err(ApiError::invalid_body(inner.to_string()));
                }
                let message = inner.to_string();
                let path = err.path().to_string();
                // serde names a missing field only in its message.
                let field = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(|name| {
                        if path == "." {
                            name.to_owned()
                        } else {
                            format!("{path}.{name}")
                        }
                    })
                    .unwrap_or(path);
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    text::FIELDS_INVALID,
                )
                .with(
                    "errors",
                    serde_json::json!([{"field": field, "message": message}]),
                ))
            }
        }
    }
}

/// The account a valid bearer token speaks for.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(ApiError::unauthorized)?;
        let principal = state
            .accounts
            .authenticate(token.trim())
            .await
            .map_err(ApiError::from)?;
        Ok(Self(principal))
    }
}

/// `Option<Auth>`: no `Authorization` header is no one; a header that does not hold a
/// valid token is still refused.
impl OptionalFromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The identity API Gateway verified for an IAM-signed request (the caller's ARN). The
/// Lambda adapter puts it in the request; nothing else can.
#[derive(Debug, Clone)]
pub struct IamCaller(pub String);

/// An operator: an IAM-signed caller on AWS, or the ops token on the local server. A
/// user's token is refused with 403, no credentials with 401.
pub struct Operator(pub String);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(IamCaller(arn)) = parts.extensions.get::<IamCaller>() {
            return Ok(Self(arn.clone()));
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        if let Some(expected) = &state.ops_token
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                token.as_bytes(),
                expected.as_bytes(),
            ))
        {
            return Ok(Self("ops-token".to_owned()));
        }
        match state.accounts.authenticate(token).await {
            Ok(_) => Err(paspor_domain::Error::Forbidden.into()),
            Err(_) => Err(ApiError::unauthorized()),
        }
    }
}

/// The client's address, for per-address rate limits: API Gateway's `sourceIp` on Lambda
/// (the adapter puts it in the request), the TCP peer on the local server. Never read
/// from a header a client could forge.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(ip.clone());
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer.unwrap_or_else(|| "unknown".to_owned())))
    }
}
