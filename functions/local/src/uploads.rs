//! The local upload target: what S3 does for a presigned POST. It checks the form's
//! signed policy (key, content type, expiry) before reading the file, refuses a file larger
//! than the policy allows while it streams, stores the file on disk, and announces the new
//! object to the worker — as S3's object-created event does on AWS. It also answers a
//! presigned download link (a published draw result) as S3 answers a presigned GET.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, Path, Query, State},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::StatusCode;
use paspor_adapters::embedded::{
    DOWNLOAD_PATH, DiskDocuments, DownloadQuery, Embedded, OffsetClock, PolicyError, SqliteQueue,
    UPLOAD_PATH,
};
use paspor_domain::text;
use paspor_domain::{
    clock::Clock,
    documents::{DocumentStore, Download, MAX_DOCUMENT_BYTES},
    jobs::{Job, JobQueue},
};
use paspor_http::{ApiError, render_problems};

#[derive(Clone)]
struct Target {
    documents: Arc<DiskDocuments>,
    clock: Arc<OffsetClock>,
    queue: Arc<SqliteQueue>,
}

pub fn router(embedded: &Embedded) -> Router {
    let target = Target {
        documents: embedded.documents.clone(),
        clock: embedded.clock.clone(),
        queue: embedded.queue.clone(),
    };
    Router::new()
        .route(UPLOAD_PATH, post(upload))
        .route(&format!("{DOWNLOAD_PATH}/{{*key}}"), get(download))
        .with_state(target)
        // The file itself is bounded by its policy; this only caps the whole form.
        .layer(DefaultBodyLimit::max(
            MAX_DOCUMENT_BYTES as usize + 64 * 1024,
        ))
        .layer(middleware::from_fn(render_problems))
}

fn malformed(e: impl std::fmt::Display) -> ApiError {
    tracing::info!(error = %e, "malformed upload form");
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_form",
        text::UPLOAD_FORM_MALFORMED,
    )
}

async fn upload(State(target): State<Target>, mut form: Multipart) -> Result<StatusCode, ApiError> {
    let mut fields: HashMap<String, String> = HashMap::new();
    while let Some(mut field) = form.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            fields.insert(name, field.text().await.map_err(malformed)?);
            continue;
        }
        // As with S3, every field comes before the file, so the policy is checked first.
        let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
        let policy = target
            .documents
            .verify(
                get("policy"),
                get("x-paspor-signature"),
                get("key"),
                get("Content-Type"),
                target.clock.now(),
            )
            .map_err(|e| match e {
                PolicyError::Expired => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "request_expired",
                    text::UPLOAD_FORM_EXPIRED,
                ),
                PolicyError::BadSignature => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "signature_does_not_match",
                    text::UPLOAD_FORM_SIGNATURE,
                ),
                PolicyError::Mismatch => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "policy_mismatch",
                    text::UPLOAD_FORM_POLICY,
                ),
            })?;
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > policy.max_bytes {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "entity_too_large",
                    text::FILE_LARGER_THAN_DECLARED,
                ));
            }
        }
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "entity_too_small",
                text::FILE_IS_EMPTY,
            ));
        }
        target
            .documents
            .store(&policy.key, &bytes)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "upload not stored");
                ApiError::internal()
            })?;
        if let Err(e) = target
            .queue
            .enqueue(&Job::ObjectStored { key: policy.key })
            .await
        {
            // The client's `complete` checks the object anyway.
            tracing::warn!(error = %e, "object-stored job not queued");
        }
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(malformed("no file field"))
}

/// A presigned download: the link's signature and expiry first, then the object with the
/// headers the link names.
async fn download(
    State(target): State<Target>,
    Path(key): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    target
        .documents
        .verify_download(&key, &q, target.clock.now())
        .map_err(|e| match e {
            PolicyError::Expired => ApiError::new(
                StatusCode::FORBIDDEN,
                "request_expired",
                text::DOWNLOAD_LINK_EXPIRED,
            ),
            PolicyError::BadSignature | PolicyError::Mismatch => ApiError::new(
                StatusCode::FORBIDDEN,
                "signature_does_not_match",
                text::DOWNLOAD_LINK_SIGNATURE,
            ),
        })?;
    let bytes = target.documents.get(&key).await.map_err(|e| {
        tracing::error!(error = %e, "download not read");
        ApiError::internal()
    })?;
    let Some(bytes) = bytes else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_key",
            text::NOT_FOUND,
        ));
    };
    let mut headers = http::HeaderMap::new();
    let value = |v: &str| http::HeaderValue::from_str(v).map_err(|_| ApiError::internal());
    headers.insert(http::header::CONTENT_TYPE, value(&q.content_type)?);
    if q.gzip {
        headers.insert(http::header::CONTENT_ENCODING, value("gzip")?);
    }
    if q.immutable {
        headers.insert(
            http::header::CACHE_CONTROL,
            value(Download::CACHE_IMMUTABLE)?,
        );
    }
    Ok((headers, bytes).into_response())
}
