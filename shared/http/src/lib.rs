//! What every function's router shares: problem+json errors in the caller's language,
//! the JSON and bearer-token extractors, the application state and tracing set-up.
//!
//! A function exposes its routes as a `Router<AppState>`; [`app`] turns routes into the
//! finished service — the same on Lambda, in `paspor-local` and in tests.

mod extract;
pub mod idempotency;
mod lang;
pub mod metrics;
mod problem;
mod routes;
mod state;
pub mod telemetry;

pub use extract::{Auth, IamCaller, Json, Operator};
pub use lang::RequestLang;
pub use problem::{ApiError, render_problems};
pub use routes::Routes;
pub use state::{AppState, Settings};

use axum::{Router, extract::DefaultBodyLimit, middleware};

/// Largest request body accepted by any JSON route. Files never pass through here.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Finishes a set of routes: a problem+json answer for unknown routes and every error, a
/// body limit, and the state.
pub fn app(routes: Routes, state: AppState) -> Router {
    routes
        .into_router()
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(render_problems))
        .with_state(state)
}
