//! The `applications` function: applicants ("Tambah Pemohon") and their applications — the
//! questionnaire, the detail with its timeline, and submission.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, NaiveDate, Utc};
use paspor_domain::{
    applications::{Application, NewApplicant, NewApplication, Relationship},
    model::lane::{PriorityReason, priority_on},
    nik::Sex,
    offices::TimeZone,
    passport::{ApplicationType, PassportType, Purpose},
};
use paspor_http::{ApiError, AppState, Auth, Json, Routes, idempotency};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/applicants", add_applicant)
        .get("/v1/applicants", list_applicants)
        .post("/v1/applications", create)
        .get("/v1/applications", list)
        .get("/v1/applications/{id}", detail)
        .post("/v1/applications/{id}/submit", submit)
}

#[derive(Deserialize)]
struct ApplicantBody {
    nik: String,
    full_name: String,
    birth_date: NaiveDate,
    birth_place: String,
    sex: Sex,
    relationship: Relationship,
}

async fn add_applicant(
    State(state): State<AppState>,
    Auth(who): Auth,
    Json(b): Json<ApplicantBody>,
) -> Result<impl IntoResponse, ApiError> {
    let input = NewApplicant {
        nik: b.nik,
        full_name: b.full_name,
        birth_date: b.birth_date,
        birth_place: b.birth_place,
        sex: b.sex,
        relationship: b.relationship,
    };
    let applicant = state
        .applications
        .add_applicant(&who.account_id, input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(applicant)))
}

async fn list_applicants(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<impl IntoResponse, ApiError> {
    let items = state.applications.applicants(&who.account_id).await?;
    Ok(axum::Json(json!({ "items": items })))
}

#[derive(Deserialize, Serialize)]
struct ApplicationBody {
    applicant_id: String,
    passport_type: PassportType,
    application_type: ApplicationType,
    purpose: Purpose,
    express: bool,
    destination_country: String,
    /// `pregnant` or `disability`, checked by the officer at check-in.
    #[serde(default)]
    priority_reason: Option<PriorityReason>,
}

/// What clients see of an application.
pub fn view(app: &Application, now: DateTime<Utc>) -> Value {
    let documents: Vec<Value> = app
        .documents
        .iter()
        .map(|(kind, state)| {
            let mut doc = serde_json::to_value(state).unwrap_or_else(|_| json!({}));
            if let Some(map) = doc.as_object_mut() {
                // Storage keys are unguessable on purpose: they never leave the server.
                map.remove("key");
                map.remove("pending");
                map.insert("kind".into(), json!(kind));
            }
            doc
        })
        .collect();
    json!({
        "application_id": app.application_id,
        "status": app.status,
        "applicant": app.applicant,
        "passport_type": app.passport_type,
        "application_type": app.application_type,
        "purpose": app.purpose,
        "express": app.express,
        // On the appointment day once booked; today (WIB) before.
        "priority": priority_on(app, app.booking.as_ref().map_or_else(|| TimeZone::Wib.today(now), |b| b.date)),
        "priority_reason": app.priority_reason,
        "destination_country": app.destination_country,
        "validity_years": app.validity_years,
        "fee_idr": app.fee_idr,
        "required_documents": documents,
        "documents": documents,
        "booking": app.booking,
        "billing": app.billing,
        "timeline": app.timeline,
        "created_at": app.created_at,
    })
}

async fn create(
    State(state): State<AppState>,
    Auth(who): Auth,
    key: idempotency::IdempotencyKey,
    Json(b): Json<ApplicationBody>,
) -> Result<Response, ApiError> {
    // The answer's future borrows what the handler owns.
    let (state, who, b) = (&state, &who, &b);
    idempotency::once(
        state,
        &who.account_id,
        key,
        "POST /v1/applications",
        b,
        |receipt| async move {
            let record = |app: &Application| {
                receipt.write(StatusCode::CREATED, view(app, state.ports.clock.now()))
            };
            let input = NewApplication {
                passport_type: b.passport_type,
                application_type: b.application_type,
                purpose: b.purpose,
                express: b.express,
                priority_reason: b.priority_reason,
            };
            let app = state
                .applications
                .create_with(
                    &who.account_id,
                    &b.applicant_id,
                    &b.destination_country,
                    input,
                    &record,
                )
                .await?;
            Ok((StatusCode::CREATED, view(&app, state.ports.clock.now())))
        },
    )
    .await
}

async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
) -> Result<impl IntoResponse, ApiError> {
    let apps = state.applications.list(&who.account_id).await?;
    Ok(axum::Json(
        json!({ "items": apps.iter().map(|a| view(a, state.ports.clock.now())).collect::<Vec<_>>() }),
    ))
}

async fn detail(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.applications.get(&who.account_id, &id).await?;
    Ok(axum::Json(view(&app, state.ports.clock.now())))
}

async fn submit(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.applications.submit(&who.account_id, &id).await?;
    Ok(axum::Json(
        json!({"application_id": app.application_id, "status": app.status}),
    ))
}
