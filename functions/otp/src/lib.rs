//! The `otp` function: everything that proves a mailbox with a one-time code — verifying a
//! sign-up, sending a code again, and resetting a forgotten password.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use paspor_domain::{otp::Purpose, ratelimit::rules};
use paspor_http::{ApiError, AppState, ClientIp, Json, RequestLang, Routes};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/accounts/verify", verify)
        .post("/v1/otp/resend", resend)
        .post("/v1/password/forgot", forgot)
        .post("/v1/password/reset", reset)
}

#[derive(Deserialize)]
struct VerifyBody {
    email: String,
    code: String,
}

async fn verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<VerifyBody>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.hit_address(rules::OTP_PER_IP, &ip).await?;
    Ok(axum::Json(
        state.accounts.verify(&body.email, &body.code).await?,
    ))
}

#[derive(Deserialize)]
struct ResendBody {
    email: String,
    purpose: Purpose,
}

async fn resend(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestLang(lang): RequestLang,
    Json(body): Json<ResendBody>,
) -> Result<StatusCode, ApiError> {
    state.limits.hit_address(rules::OTP_PER_IP, &ip).await?;
    state
        .accounts
        .resend(&body.email, body.purpose, lang)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct ForgotBody {
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestLang(lang): RequestLang,
    Json(body): Json<ForgotBody>,
) -> Result<StatusCode, ApiError> {
    state.limits.hit_address(rules::OTP_PER_IP, &ip).await?;
    state
        .accounts
        .resend(&body.email, Purpose::PasswordReset, lang)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
struct ResetBody {
    email: String,
    code: String,
    new_password: String,
}

async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ResetBody>,
) -> Result<StatusCode, ApiError> {
    state.limits.hit_address(rules::OTP_PER_IP, &ip).await?;
    state
        .accounts
        .reset_password(&body.email, &body.code, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
