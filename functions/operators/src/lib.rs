//! The `operators` function: `/v1/ops/` for immigration officers and the people who run
//! Paspor. On AWS, API Gateway admits only IAM-signed requests here; locally, the ops token.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    response::IntoResponse,
};
use chrono::NaiveDate;
use paspor_domain::{
    Error,
    booking::{MAX_CAPACITY, valid_slot_time},
    offices::{Office, TimeZone},
    operations::Decision,
    passport::PassportType,
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

fn invalid(field: &str, id: &'static str, en: &'static str) -> ApiError {
    Error::invalid(field, id, en).into()
}

async fn put_office(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(office_id): Path<String>,
    Json(b): Json<OfficeBody>,
) -> Result<impl IntoResponse, ApiError> {
    if !paspor_domain::validate::is_id(&office_id) {
        return Err(invalid(
            "office_id",
            "ID kantor: 1–64 huruf, angka, tanda hubung atau garis bawah.",
            "An office id is 1–64 letters, digits, hyphens or underscores.",
        ));
    }
    if !(b.lat.is_finite() && b.lat.abs() <= 90.0 && b.lon.is_finite() && b.lon.abs() <= 180.0) {
        return Err(invalid(
            "lat",
            "Koordinat tidak valid.",
            "The coordinates are not valid.",
        ));
    }
    if b.name.trim().is_empty() || b.passport_types.is_empty() {
        return Err(invalid(
            "name",
            "Nama dan jenis paspor wajib diisi.",
            "A name and at least one passport type are required.",
        ));
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
    state.booking.put_office(&office).await?;
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
    slots: BTreeMap<String, i64>,
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
        return Err(invalid(
            "to",
            "Rentang paling lama 366 hari, dan `to` tidak sebelum `from`.",
            "The range is at most 366 days, and `to` is not before `from`.",
        ));
    }
    if b.slots.is_empty()
        || b.slots
            .iter()
            .any(|(t, c)| !valid_slot_time(t) || !(0..=MAX_CAPACITY).contains(c))
    {
        return Err(invalid(
            "slots",
            "Slot berformat \"HH:00\": kapasitas 0 sampai 10000.",
            "Slots are \"HH:00\": capacity from 0 to 10000.",
        ));
    }
    let written = state
        .booking
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
        .ok_or_else(|| {
            invalid(
                "date",
                "Tanggal wajib, berformat YYYY-MM-DD.",
                "A date is required, as YYYY-MM-DD.",
            )
        })?;
    let items = state.operations.schedule(&office_id, date).await?;
    Ok(axum::Json(
        json!({"office_id": office_id, "date": date, "items": items}),
    ))
}

async fn check_in(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.operations.check_in(&who, &id).await?;
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
        serde_json::Value::Object(_) => serde_json::from_value(raw).map_err(|_| {
            invalid(
                "after",
                "Badan permintaan tidak valid.",
                "The request body is not valid.",
            )
        })?,
        _ => {
            return Err(invalid(
                "body",
                "Badan permintaan harus objek JSON.",
                "The request body must be a JSON object.",
            ));
        }
    };
    let limit = b.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(invalid(
            "limit",
            "limit 1 sampai 1000.",
            "limit is 1 to 1000.",
        ));
    }
    let after = match b.after.as_deref() {
        None => None,
        Some(c) => Some(key_of(c).ok_or_else(|| {
            invalid(
                "after",
                "after harus nilai next dari halaman sebelumnya.",
                "after must be the previous page's next.",
            )
        })?),
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
