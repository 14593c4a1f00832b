//! The `billing` function: the billing code an applicant pays, its amount and deadline, and
//! the invoice — the receipt with its QR code once paid — as a PDF.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use paspor_domain::{
    Error, applications::BillingStatus, documents::invoice_prefix, offices::TimeZone,
};
use paspor_http::{ApiError, AppState, Auth, Routes};
use paspor_pdf::BillingDocument;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/applications/{id}/billing", billing)
        .get("/v1/applications/{id}/billing/invoice.pdf", invoice)
}

async fn billing(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(axum::Json(
        state.booking.billing(&who.account_id, &id).await?,
    ))
}

fn local_time(at: DateTime<Utc>, tz: TimeZone) -> String {
    let zone = match tz {
        TimeZone::Wib => "WIB",
        TimeZone::Wita => "WITA",
        TimeZone::Wit => "WIT",
    };
    format!(
        "{} {zone}",
        at.with_timezone(&tz.offset()).format("%d-%m-%Y %H:%M")
    )
}

/// Rendered once per content and kept in storage under a digest of everything it shows,
/// so a later request reads it back only while the billing and the booking are unchanged
/// (a reschedule keeps the billing code but must show the new appointment).
async fn invoice(
    State(state): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let app = state.applications.get(&who.account_id, &id).await?;
    let billing = state.booking.billing(&who.account_id, &id).await?;
    let paid = billing.status == BillingStatus::Paid;
    let place = app.booking.clone().or(app.lapsed_booking.clone());
    let office = match &place {
        Some(p) => Some(state.quota.office(&p.office_id).await?),
        None => None,
    };
    let tz = office.as_ref().map(|o| o.timezone).unwrap_or(TimeZone::Wib);
    let doc = BillingDocument {
        billing_code: billing.billing_code.clone(),
        amount_idr: billing.amount_idr,
        deadline: local_time(billing.expires_at, tz),
        applicant: app.applicant.full_name.clone(),
        application_id: app.application_id.clone(),
        office: office.as_ref().map(|o| o.name.clone()).unwrap_or_default(),
        office_address: office
            .as_ref()
            .map(|o| format!("{}, {}", o.address, o.city))
            .unwrap_or_default(),
        appointment: match &app.booking {
            Some(b) => format!(
                "{} {} ({})",
                b.date.format("%d-%m-%Y"),
                b.time,
                local_time(billing.expires_at, tz)
                    .rsplit(' ')
                    .next()
                    .unwrap_or("WIB")
            ),
            None => "belum ada / not booked yet".to_owned(),
        },
        paid_at: billing
            .paid_at
            .filter(|_| paid)
            .map(|at| local_time(at, tz)),
    };
    let key = format!(
        "{}{}-{}.pdf",
        invoice_prefix(&id),
        if paid { "receipt" } else { "invoice" },
        doc.digest()
    );
    let store = &state.ports.documents;
    let internal =
        |e: paspor_domain::documents::StorageError| ApiError::from(Error::Internal(e.to_string()));
    let bytes = match store.get(&key).await.map_err(internal)? {
        Some(bytes) => bytes,
        None => {
            let bytes = paspor_pdf::render(&doc);
            // An ended application's objects are purged after its retention: nothing is
            // stored for it any more, or the purge would leave this copy behind.
            if app.status.is_active() {
                store
                    .put(&key, bytes.clone(), "application/pdf")
                    .await
                    .map_err(internal)?;
            }
            bytes
        }
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    let disposition = format!("inline; filename=\"paspor-{}.pdf\"", billing.billing_code);
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
