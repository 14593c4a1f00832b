//! The `accounts` function: sign-up, sign-in, the signed-in account and password change.

use axum::{extract::State, http::StatusCode, response::IntoResponse};
use paspor_domain::{accounts::SignUp, model::ids::Email, ratelimit::rules};
use paspor_http::{ApiError, AppState, Auth, ClientIp, Json, RequestLang, Routes};
use serde::Deserialize;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/accounts", sign_up)
        .post("/v1/sessions", sign_in)
        .put("/v1/password", change_password)
        .get("/v1/me", me)
}

/// What the function serves on Lambda: its routes, and API Gateway's `$default` route
/// (`Unmatched` in infra/template.yaml), which brings it every request no route matched.
pub fn function_routes() -> Routes {
    routes().answering_unmatched()
}

#[derive(Deserialize)]
struct SignUpBody {
    email: String,
    password: String,
    full_name: String,
    phone: String,
}

async fn sign_up(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestLang(lang): RequestLang,
    Json(body): Json<SignUpBody>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.hit_address(rules::SIGN_UP_PER_IP, &ip).await?;
    let input = SignUp {
        email: body.email,
        password: body.password,
        full_name: body.full_name,
        phone: body.phone,
    };
    let created = state.accounts.sign_up(input, lang).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

#[derive(Deserialize)]
struct SignInBody {
    email: String,
    password: String,
}

async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<SignInBody>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.hit_address(rules::SIGN_IN_PER_IP, &ip).await?;
    // Per login as well, beside the lockout after failures: a script spreading guesses over
    // many addresses still meets this budget.
    let login = Email::normalize(&body.email);
    state.limits.hit(rules::SIGN_IN_PER_ACCOUNT, &login).await?;
    Ok(axum::Json(
        state.accounts.sign_in(&body.email, &body.password).await?,
    ))
}

#[derive(Deserialize)]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(body): Json<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .change_password(&who, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, Auth(who): Auth) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(state.accounts.profile(&who).await?))
}
