//! The `operators` function: `/v1/ops/` for immigration officers and the people who run
//! Paspor. On AWS, API Gateway admits only IAM-signed requests here; locally, the ops token.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    response::IntoResponse,
};
use chrono::NaiveDate;
use paspor_domain::text::{self, Text};
use paspor_domain::{
    Error,
    booking::MAX_CAPACITY,
    model::ids::{OfficeId, SlotTime},
    offices::{Office, TimeZone, on_earth},
    operations::Decision,
    passport::PassportType,
    repo::places::Capacity,
};
use paspor_http::{ApiError, AppState, Json, Operator, Routes};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Routes {
    Routes::new()
        .put("/v1/ops/offices/{office_id}", put_office)
        .put("/v1/ops/offices/{office_id}/quota", put_quota)
        .get("/v1/ops/offices/{office_id}/schedule", schedule)
        .post("/v1/ops/applications/{id}/check-in", check_in)
        .post("/v1/ops/applications/{id}/decision", decision)
        .get("/v1/ops/applications/{id}/audit", audit)
        .get("/v1/ops/payments/exceptions", exceptions)
        .post("/v1/ops/maintenance/reseal", reseal)
        .put("/v1/ops/releases/{release_id}", put_release)
        .get("/v1/ops/releases/{release_id}", get_release)
}

async fn put_release(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(release_id): Path<String>,
    Json(b): Json<paspor_domain::releases::ReleaseSpec>,
) -> Result<impl IntoResponse, ApiError> {
    let (release, new) = state.releases.put(&release_id, b).await?;
    let body = release.ops_view(state.ports.clock.now());
    state
        .operations
        .audit(
            &who,
            "put_release",
            &format!("release:{release_id}"),
            body.clone(),
        )
        .await?;
    let status = if new {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, axum::Json(body)))
}

async fn get_release(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(release_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let release = state.releases.get(&release_id).await?;
    let counts = state.releases.counts(&release).await?;
    let mut body = release.ops_view(state.ports.clock.now());
    body["counts"] = json!(counts);
    Ok(axum::Json(body))
}

#[derive(Deserialize)]
struct OfficeBody {
    name: String,
    address: String,
    city: String,
    lat: f64,
    lon: f64,
    timezone: TimeZone,
    passport_types: Vec<PassportType>,
}

fn invalid(field: &str, text: Text) -> ApiError {
    Error::invalid(field, text).into()
}

async fn put_office(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(office_id): Path<String>,
    Json(b): Json<OfficeBody>,
) -> Result<impl IntoResponse, ApiError> {
    OfficeId::parse(&office_id).map_err(|e| ApiError::from(Error::Invalid(vec![e])))?;
    if !on_earth(b.lat, b.lon) {
        return Err(invalid("lat", text::COORDINATES_INVALID));
    }
    if b.name.trim().is_empty() || b.passport_types.is_empty() {
        return Err(invalid("name", text::OFFICE_NAME_AND_TYPES_REQUIRED));
    }
    let office = Office {
        office_id: office_id.clone(),
        name: b.name,
        address: b.address,
        city: b.city,
        lat: b.lat,
        lon: b.lon,
        timezone: b.timezone,
        passport_types: b.passport_types,
    };
    state.quota.put_office(&office).await?;
    state
        .operations
        .audit(
            &who,
            "put_office",
            &format!("office:{office_id}"),
            serde_json::to_value(&office).unwrap_or_default(),
        )
        .await?;
    Ok(axum::Json(office))
}

#[derive(Deserialize)]
struct QuotaBody {
    from: NaiveDate,
    to: NaiveDate,
    /// A number (one pool) or lanes, per hour.
    slots: BTreeMap<String, Capacity>,
    #[serde(default)]
    include_weekends: bool,
}

async fn put_quota(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(office_id): Path<String>,
    Json(b): Json<QuotaBody>,
) -> Result<impl IntoResponse, ApiError> {
    if b.to < b.from || (b.to - b.from).num_days() > 366 {
        return Err(invalid("to", text::QUOTA_RANGE));
    }
    if b.slots.is_empty()
        || b.slots
            .iter()
            .any(|(t, c)| SlotTime::parse("slots", t).is_err() || !c.within(MAX_CAPACITY))
    {
        return Err(invalid("slots", text::QUOTA_SLOTS_FORM));
    }
    let written = state
        .quota
        .open_quota(
            &office_id,
            b.from,
            b.to,
            &b.slots,
            b.include_weekends,
            false,
        )
        .await?;
    let details = json!({"from": b.from, "to": b.to, "slots": b.slots, "include_weekends": b.include_weekends, "written": written});
    state
        .operations
        .audit(&who, "put_quota", &format!("office:{office_id}"), details)
        .await?;
    Ok(axum::Json(
        json!({"office_id": office_id, "slots_written": written}),
    ))
}

#[derive(Deserialize)]
struct ScheduleQuery {
    date: Option<String>,
}

async fn schedule(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(office_id): Path<String>,
    Query(q): Query<ScheduleQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let date = q
        .date
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .ok_or_else(|| invalid("date", text::DATE_REQUIRED))?;
    let items = state.operations.schedule(&office_id, date).await?;
    Ok(axum::Json(
        json!({"office_id": office_id, "date": date, "items": items}),
    ))
}

#[derive(Deserialize, Default)]
struct CheckInBody {
    /// For a priority place: whether the officer saw the reason hold.
    priority_verified: Option<bool>,
}

async fn check_in(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // The body is optional: an officer's scanner sends none.
    let b: CheckInBody = if body.iter().all(u8::is_ascii_whitespace) {
        CheckInBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid_body(e.to_string()))?
    };
    let app = state
        .operations
        .check_in(&who, &id, b.priority_verified)
        .await?;
    Ok(axum::Json(
        json!({"application_id": app.application_id, "status": app.status}),
    ))
}

async fn decision(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
    Json(d): Json<Decision>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.operations.decide(&who, &id, &d).await?;
    Ok(axum::Json(
        json!({"application_id": app.application_id, "status": app.status, "delivery": d.delivery}),
    ))
}

async fn audit(
    State(state): State<AppState>,
    Operator(_): Operator,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.applications.load(&id).await?;
    Ok(axum::Json(
        json!({"items": state.operations.audit_trail(&id).await?}),
    ))
}

async fn exceptions(
    State(state): State<AppState>,
    Operator(_): Operator,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        json!({"items": state.payments.exceptions().await?}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResealBody {
    /// Where to go on: the `next` of the previous page.
    after: Option<String>,
    limit: Option<usize>,
}

/// The key a cursor stands for: hex of `[pk, sk]`, opaque to the caller.
fn cursor(key: &paspor_domain::store::Key) -> String {
    hex::encode(serde_json::to_vec(&[&key.pk, &key.sk]).unwrap_or_default())
}

fn key_of(cursor: &str) -> Option<paspor_domain::store::Key> {
    let raw = hex::decode(cursor).ok()?;
    let [pk, sk]: [String; 2] = serde_json::from_slice(&raw).ok()?;
    Some(paspor_domain::store::Key::new(pk, sk))
}

/// `POST /v1/ops/maintenance/reseal`: one page of the re-seal after a NIK-key rotation
/// (SECURITY.md). The operator's tool calls it again with `next` until `next` is null;
/// then the old key may go.
async fn reseal(
    State(state): State<AppState>,
    Operator(who): Operator,
    Json(raw): Json<serde_json::Value>,
) -> Result<impl IntoResponse, ApiError> {
    // An object, as the document says (serde would also take `[]` for a struct of options).
    let b: ResealBody = match raw {
        serde_json::Value::Object(_) => {
            serde_json::from_value(raw).map_err(|_| invalid("after", text::BODY_INVALID))?
        }
        _ => {
            return Err(invalid("body", text::BODY_NOT_OBJECT));
        }
    };
    let limit = b.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(invalid("limit", text::PAGE_LIMIT_RANGE));
    }
    let after = match b.after.as_deref() {
        None => None,
        Some(c) => Some(key_of(c).ok_or_else(|| invalid("after", text::PAGE_AFTER_FORM))?),
    };
    let page = state
        .sealed
        .reseal_page(after.as_ref(), limit)
        .await
        .map_err(Error::from)?;
    let next = page.next.as_ref().map(cursor);
    state
        .operations
        .audit(
            &who,
            "reseal",
            "maintenance:reseal",
            json!({"checked": page.checked, "resealed": page.resealed}),
        )
        .await?;
    Ok(axum::Json(
        json!({"checked": page.checked, "resealed": page.resealed, "next": next}),
    ))
}
