//! The `uploads` function: the presigned form a phone sends a document with, straight to
//! storage, and the check of what storage received. No file ever passes through here.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::IntoResponse,
};
use paspor_domain::text;
use paspor_http::{ApiError, AppState, Auth, Json, Routes};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Routes {
    Routes::new()
        .post(
            "/v1/applications/{id}/documents/{kind}/upload-url",
            upload_url,
        )
        .post("/v1/applications/{id}/documents/{kind}/complete", complete)
}

#[derive(Deserialize)]
struct UploadUrlBody {
    content_type: String,
    /// A JSON integer; `1234.0` is the same integer (JSON Schema says so, and some
    /// clients' number types write it that way).
    content_length: serde_json::Number,
}

fn whole_bytes(n: &serde_json::Number) -> Result<i64, ApiError> {
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| paspor_domain::Error::invalid("content_length", text::FILE_SIZE_FORM).into())
}

async fn upload_url(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((id, kind)): Path<(String, String)>,
    Json(b): Json<UploadUrlBody>,
) -> Result<impl IntoResponse, ApiError> {
    let form = state
        .applications
        .upload_url(
            &who.account_id,
            &id,
            &kind,
            &b.content_type,
            whole_bytes(&b.content_length)?,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "method": form.method,
            "url": form.url,
            "fields": form.fields,
            "headers": {},
            "expires_at": form.expires_at,
        })),
    ))
}

async fn complete(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path((id, kind)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let checked = state
        .applications
        .complete(&who.account_id, &id, &kind)
        .await;
    if let Err(paspor_domain::Error::UploadRejected { .. }) = &checked {
        paspor_http::metrics::count("UploadRejections", 1.0);
    }
    let doc = checked?;
    Ok(axum::Json(json!({
        "kind": kind,
        "status": "uploaded",
        "content_type": doc.content_type,
        "size": doc.size,
        "uploaded_at": doc.uploaded_at,
    })))
}
