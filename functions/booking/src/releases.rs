//! The fair release's applicant side: the releases, an account's entry, the result.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use paspor_domain::draw::SlotRef;
use paspor_http::{ApiError, AppState, Auth, ClientIp, Json, Routes};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/releases", list)
        .get("/v1/releases/{release_id}", one)
        .put("/v1/releases/{release_id}/entry", enter)
        .get("/v1/releases/{release_id}/entry", entry)
        .delete("/v1/releases/{release_id}/entry", withdraw)
        .get("/v1/releases/{release_id}/result", result)
}

async fn list(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let now = state.ports.clock.now();
    let items: Vec<_> = state
        .releases
        .list()
        .await?
        .iter()
        .map(|r| r.public(now))
        .collect();
    Ok(axum::Json(json!({ "items": items })))
}

async fn one(
    State(state): State<AppState>,
    Path(release_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let release = state.releases.get(&release_id).await?;
    Ok(axum::Json(release.public(state.ports.clock.now())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryBody {
    application_ids: Vec<String>,
    choices: Vec<SlotRef>,
}

async fn enter(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(who): Auth,
    Path(release_id): Path<String>,
    Json(b): Json<EntryBody>,
) -> Result<Response, ApiError> {
    // As booking's: a person changes an entry a few times, a script many.
    crate::limit_booking(&state, &ip, &who.account_id).await?;
    let (entry, new) = state
        .releases
        .enter(&who.account_id, &release_id, &b.application_ids, &b.choices)
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "entry_id": entry.entry_id,
        "release_id": entry.release_id,
        "status": "entered",
        "application_ids": entry.application_ids,
        "choices": entry.choices,
    });
    Ok((status, axum::Json(body)).into_response())
}

async fn entry(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(release_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state.releases.entry(&who.account_id, &release_id).await?,
    ))
}

async fn withdraw(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(release_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .releases
        .withdraw(&who.account_id, &release_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// 303 to the published document: it is written once when the draw is computed, and at
/// national scale is far larger than a function may answer.
async fn result(
    State(state): State<AppState>,
    Path(release_id): Path<String>,
) -> Result<Response, ApiError> {
    let link = state.releases.result(&release_id).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (axum::http::header::LOCATION, link),
            // The link expires; each request gets its own.
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
    )
        .into_response())
}
