//! The `booking` function: offices near you, their quota, and booking, rescheduling and
//! cancelling a place — the part that must hold when the whole country arrives at once.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use paspor_domain::{Error, applications::Application, booking::Group, ratelimit::rules};
use paspor_domain::{
    offices::{MAX_LAT, MAX_LON, valid_degrees},
    text,
};
use paspor_http::{ApiError, AppState, Auth, ClientIp, Json, Routes, idempotency, metrics};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

mod releases;

pub fn routes() -> Routes {
    Routes::new()
        .merge(releases::routes())
        .get("/v1/offices", offices)
        .get("/v1/offices/{office_id}/availability", availability)
        .post("/v1/applications/{id}/booking", book)
        .put("/v1/applications/{id}/booking", reschedule)
        .delete("/v1/applications/{id}/booking", cancel)
        .post("/v1/bookings", book_family)
        .put("/v1/bookings/{group_id}", move_family)
}

#[derive(Deserialize)]
struct OfficesQuery {
    lat: Option<String>,
    lon: Option<String>,
    limit: Option<String>,
}

fn coordinate(
    raw: &Option<String>,
    field: &'static str,
    bound: f64,
) -> Result<Option<f64>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<f64>() {
        Ok(v) if valid_degrees(v, bound) => Ok(Some(v)),
        _ => Err(Error::invalid(field, text::COORDINATE_INVALID).into()),
    }
}

async fn offices(
    State(state): State<AppState>,
    Query(q): Query<OfficesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let lat = coordinate(&q.lat, "lat", MAX_LAT)?;
    let lon = coordinate(&q.lon, "lon", MAX_LON)?;
    let near = match (lat, lon) {
        (Some(lat), Some(lon)) => Some((lat, lon)),
        (None, None) => None,
        _ => {
            return Err(Error::invalid("lat", text::LAT_LON_TOGETHER).into());
        }
    };
    let limit = match &q.limit {
        None => 20,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => {
                return Err(Error::invalid("limit", text::OFFICES_LIMIT_RANGE).into());
            }
        },
    };
    let items = state.quota.offices(near, limit).await?;
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    /// The caller's application: `remaining` becomes what it could take.
    application_id: Option<String>,
}

fn date(raw: &Option<String>, field: &'static str) -> Result<Option<NaiveDate>, ApiError> {
    raw.as_deref()
        .map(|s| {
            s.parse::<NaiveDate>()
                .map_err(|_| ApiError::from(Error::invalid(field, text::DATE_FORM)))
        })
        .transpose()
}

async fn availability(
    State(state): State<AppState>,
    Path(office_id): Path<String>,
    Query(q): Query<RangeQuery>,
    auth: Option<Auth>,
) -> Result<Response, ApiError> {
    let from = date(&q.from, "from")?;
    let to = date(&q.to, "to")?;
    let value = state.quota.availability(&office_id, from, to).await?;
    let Some(id) = &q.application_id else {
        let mut response = axum::Json(value.as_ref()).into_response();
        // A few seconds stale is fine: let the app, a CDN or API Gateway's cache hold it.
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=5, stale-while-revalidate=25"),
        );
        return Ok(response);
    };
    // One person's calendar: what their application could take, for them alone.
    let Some(Auth(who)) = auth else {
        return Err(ApiError::unauthorized());
    };
    let app = state.applications.get(&who.account_id, id).await?;
    let mut response = axum::Json(value.for_application(&app)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=5"),
    );
    Ok(response)
}

#[derive(Deserialize, Serialize)]
struct BookBody {
    office_id: String,
    date: NaiveDate,
    time: String,
}

/// What a booking answer says.
fn booked(app: &Application) -> Value {
    json!({
        "application_id": app.application_id,
        "status": app.status,
        "booking": app.booking,
        "billing": app.billing.as_ref().map(|b| json!({"billing_code": b.billing_code, "amount_idr": b.amount_idr, "expires_at": b.expires_at, "status": b.status})),
    })
}

async fn book(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(who): Auth,
    Path(id): Path<String>,
    key: idempotency::IdempotencyKey,
    Json(b): Json<BookBody>,
) -> Result<Response, ApiError> {
    limit_booking(&state, &ip, &who.account_id).await?;
    let scope = format!("POST /v1/applications/{id}/booking");
    // The answer's future borrows what the handler owns.
    let (state, who, b) = (&state, &who, &b);
    idempotency::once(
        state,
        &who.account_id,
        key,
        &scope,
        b,
        |receipt| async move {
            let record = |app: &Application| receipt.write(StatusCode::CREATED, booked(app));
            let outcome = state
                .booking
                .book_with(&who.account_id, &id, &b.office_id, b.date, &b.time, &record)
                .await;
            match &outcome {
                Ok(_) => metrics::count("Bookings", 1.0),
                Err(Error::SlotFull) => metrics::count("SlotFull", 1.0),
                Err(_) => {}
            }
            Ok((StatusCode::CREATED, booked(&outcome?)))
        },
    )
    .await
}

#[derive(Deserialize, Serialize)]
struct FamilyBody {
    application_ids: Vec<String>,
    office_id: String,
    date: NaiveDate,
    time: String,
}

/// What a family booking answers: each application as a single booking would.
fn family(group: &Group) -> Value {
    json!({
        "group_id": group.group_id,
        "items": group.items.iter().map(booked).collect::<Vec<_>>(),
    })
}

async fn book_family(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(who): Auth,
    key: idempotency::IdempotencyKey,
    Json(b): Json<FamilyBody>,
) -> Result<Response, ApiError> {
    limit_booking(&state, &ip, &who.account_id).await?;
    let (state, who, b) = (&state, &who, &b);
    idempotency::once(
        state,
        &who.account_id,
        key,
        "POST /v1/bookings",
        b,
        |receipt| async move {
            let record = |group: &Group| receipt.write(StatusCode::CREATED, family(group));
            let outcome = state
                .booking
                .book_group_with(
                    &who.account_id,
                    &b.application_ids,
                    &b.office_id,
                    b.date,
                    &b.time,
                    &record,
                )
                .await;
            match &outcome {
                Ok(g) => metrics::count("Bookings", g.items.len() as f64),
                Err(Error::PlacesShort { .. }) => metrics::count("SlotFull", 1.0),
                Err(_) => {}
            }
            Ok((StatusCode::CREATED, family(&outcome?)))
        },
    )
    .await
}

async fn move_family(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(who): Auth,
    Path(group_id): Path<String>,
    key: idempotency::IdempotencyKey,
    Json(b): Json<RescheduleBody>,
) -> Result<Response, ApiError> {
    limit_booking(&state, &ip, &who.account_id).await?;
    let scope = format!("PUT /v1/bookings/{group_id}");
    let (state, who, b) = (&state, &who, &b);
    idempotency::once(
        state,
        &who.account_id,
        key,
        &scope,
        b,
        |receipt| async move {
            let record = |group: &Group| receipt.write(StatusCode::OK, family(group));
            let group = state
                .booking
                .reschedule_group_with(&who.account_id, &group_id, b.date, &b.time, &record)
                .await?;
            Ok((StatusCode::OK, family(&group)))
        },
    )
    .await
}

#[derive(Deserialize, Serialize)]
struct RescheduleBody {
    date: NaiveDate,
    time: String,
}

async fn reschedule(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Auth(who): Auth,
    Path(id): Path<String>,
    key: idempotency::IdempotencyKey,
    Json(b): Json<RescheduleBody>,
) -> Result<Response, ApiError> {
    limit_booking(&state, &ip, &who.account_id).await?;
    let scope = format!("PUT /v1/applications/{id}/booking");
    // The answer's future borrows what the handler owns.
    let (state, who, b) = (&state, &who, &b);
    idempotency::once(
        state,
        &who.account_id,
        key,
        &scope,
        b,
        |receipt| async move {
            let record = |app: &Application| receipt.write(StatusCode::OK, booked(app));
            let app = state
                .booking
                .reschedule_with(&who.account_id, &id, b.date, &b.time, &record)
                .await?;
            Ok((StatusCode::OK, booked(&app)))
        },
    )
    .await
}

/// Touts script bookings: a person books a handful of times a minute at most. The account
/// first, so one tout over its budget spends nothing of its neighbours' address.
pub(crate) async fn limit_booking(
    state: &AppState,
    ip: &str,
    account_id: &str,
) -> Result<(), ApiError> {
    state
        .limits
        .hit(rules::BOOKING_PER_ACCOUNT, account_id)
        .await?;
    state.limits.hit_address(rules::BOOKING_PER_IP, ip).await?;
    Ok(())
}

async fn cancel(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.booking.cancel(&who.account_id, &id).await?;
    Ok(axum::Json(
        json!({"application_id": app.application_id, "status": app.status}),
    ))
}
