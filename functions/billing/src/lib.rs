//! The `billing` function: the billing code an applicant pays, its amount and deadline.

use axum::{
    extract::{Path, State},
    response::IntoResponse,
};
use paspor_http::{ApiError, AppState, Auth, Routes};

pub fn routes() -> Routes {
    Routes::new().get("/v1/applications/{id}/billing", billing)
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
