//! `paspor-local`: every function's router on one port over the embedded backend, with
//! the worker running beside it. What the cloud provides elsewhere (the queue consumer,
//! later the upload target and the sweeper) runs here as tasks.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use clap::Parser;
mod uploads;

use chrono::TimeDelta;
use paspor_adapters::embedded::{
    AdvanceError, Embedded, OffsetClock, SqliteQueue, load_or_create_local_credentials,
};
use paspor_domain::text;
use paspor_domain::{
    ServicesConfig,
    applications::DEFAULT_DOCUMENT_RETENTION_DAYS,
    booking::{BookingConfig, DEFAULT_AVAILABILITY_TTL_MS, DEFAULT_PAYMENT_TTL_SECS},
    offices::{demo_offices, demo_quota_runs},
    ratelimit::{DEFAULT_ADDRESS_PER_MINUTE, DEFAULT_EMAIL_ADDRESS_PER_MINUTE, RateLimitConfig},
};
use paspor_http::{ApiError, AppState, Json, Routes, Settings};
use paspor_worker::{JobError, Worker};
use serde::Deserialize;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "paspor-local",
    about = "Paspor's whole API on one port, over an embedded backend"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "PASPOR_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where the database, documents, outbox and keys live. Survives restarts.
    #[arg(long, env = "PASPOR_DATA_DIR", default_value = "./.paspor")]
    pub data_dir: PathBuf,
    /// Seed data to add if missing ("demo": real immigration offices and 30 days of quota).
    #[arg(long, env = "PASPOR_SEED", value_parser = ["demo"])]
    pub seed: Option<String>,
    /// Payment channels' webhook secrets, comma separated (several during a rotation).
    /// Without it, one generated for the data directory (see `local-credentials.json`).
    #[arg(long, env = "PASPOR_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
    /// The operators' bearer token for `/v1/ops/`. Without it, one generated for the data
    /// directory (see `local-credentials.json`).
    #[arg(long, env = "PASPOR_OPS_TOKEN")]
    pub ops_token: Option<String>,
    /// How long a billing stays payable.
    #[arg(long, env = "PASPOR_PAYMENT_TTL_SECS", default_value_t = DEFAULT_PAYMENT_TTL_SECS.unsigned_abs())]
    pub payment_ttl_secs: u64,
    /// How long an availability answer is served from memory (it may be this stale).
    #[arg(long, env = "PASPOR_AVAILABILITY_TTL_MS", default_value_t = DEFAULT_AVAILABILITY_TTL_MS)]
    pub availability_ttl_ms: u64,
    /// Rate limits per address and account ("off" for load tests from one address).
    #[arg(long, env = "PASPOR_RATE_LIMITS", default_value = "on")]
    pub rate_limits: String,
    /// Requests a minute from one client address to one family of routes (sign-up,
    /// sign-in, codes, booking) before it is refused: an abuse ceiling (SECURITY.md).
    #[arg(long, env = "PASPOR_ADDRESS_LIMIT_PER_MINUTE", default_value_t = DEFAULT_ADDRESS_PER_MINUTE)]
    pub address_limit_per_minute: i64,
    /// The same for the routes that send email (sign-up, codes), lower.
    #[arg(long, env = "PASPOR_EMAIL_ADDRESS_LIMIT_PER_MINUTE", default_value_t = DEFAULT_EMAIL_ADDRESS_PER_MINUTE)]
    pub email_address_limit_per_minute: i64,
    /// Days an application's stored objects are kept after it ends, or after a draft was last touched.
    #[arg(long, env = "PASPOR_DOCUMENT_RETENTION_DAYS", default_value_t = DEFAULT_DOCUMENT_RETENTION_DAYS.unsigned_abs())]
    pub document_retention_days: u64,
    /// How often expired billings are swept.
    #[arg(long, env = "PASPOR_SWEEP_SECS", default_value_t = 5)]
    pub sweep_secs: u64,
}

/// The local server, opened on its data directory.
pub struct Local {
    pub embedded: Embedded,
    pub state: AppState,
    /// Where the generated ops token and webhook secret are kept.
    pub credentials_file: PathBuf,
}

impl Local {
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        let (generated, credentials_file) = load_or_create_local_credentials(&config.data_dir)?;
        let webhook_secret = config
            .webhook_secret
            .as_deref()
            .unwrap_or(&generated.webhook_secret);
        let webhook = webhook_secret
            .split(',')
            .map(|s| s.trim().as_bytes().to_vec())
            .filter(|s| !s.is_empty())
            .collect();
        let ops_token = config
            .ops_token
            .clone()
            .unwrap_or_else(|| generated.ops_token.clone());
        let embedded = Embedded::open(&config.data_dir, webhook)?;
        let settings = Settings {
            services: ServicesConfig {
                booking: BookingConfig {
                    payment_ttl_secs: i64::try_from(config.payment_ttl_secs).unwrap_or(i64::MAX),
                    availability_ttl: Duration::from_millis(config.availability_ttl_ms),
                    ..BookingConfig::default()
                },
                rate_limits: RateLimitConfig {
                    enabled: paspor_http::state::rate_limits_on(Some(&config.rate_limits)),
                    address_per_minute: config.address_limit_per_minute,
                    email_address_per_minute: config.email_address_limit_per_minute,
                },
                document_retention_days: i64::try_from(config.document_retention_days)
                    .unwrap_or(i64::MAX),
                ..ServicesConfig::default()
            },
            ops_token: Some(ops_token),
        };
        let state = AppState::new(embedded.ports(), &embedded.secrets, settings);
        Ok(Self {
            embedded,
            state,
            credentials_file,
        })
    }

    /// Every function's routes, the local-only ones, the upload target, and the web client
    /// at `/` (its own router: a page needs a CSP that lets it run its scripts; the upload
    /// target is this same origin, so `connect-src 'self'` covers it).
    pub fn router(&self) -> Router {
        let routes = api_routes().merge(local_routes(self.embedded.clock.clone()));
        paspor_http::app(routes, self.state.clone())
            .merge(uploads::router(&self.embedded))
            .merge(paspor_web::router(paspor_web::Config::default()))
    }
}

/// The deployed API: every function's routes. (What each Lambda serves is its own part.)
pub fn api_routes() -> Routes {
    Routes::new()
        .merge(paspor_accounts::routes())
        .merge(paspor_otp::routes())
        .merge(paspor_applications::routes())
        .merge(paspor_uploads::routes())
        .merge(paspor_booking::routes())
        .merge(paspor_billing::routes())
        .merge(paspor_payments::routes())
        .merge(paspor_operators::routes())
}

#[derive(Deserialize)]
struct ClockBody {
    advance_secs: i64,
}

/// `POST /_local/clock`: moves the one clock forward, so deadlines and lockouts can be
/// reached in tests and demos without waiting. Never backwards, and never so far that time
/// would overflow (the offset is kept on disk: a bad one would outlive a restart).
fn local_routes(clock: Arc<OffsetClock>) -> Routes {
    Routes::new().post(
        "/_local/clock",
        move |Json(body): Json<ClockBody>| async move {
            let now = clock.advance(body.advance_secs).map_err(|e| match e {
                AdvanceError::OutOfRange => ApiError::from(paspor_domain::Error::invalid(
                    "advance_secs",
                    text::CLOCK_FORWARD_ONLY,
                )),
                AdvanceError::Io(e) => {
                    tracing::error!(error = %e, "clock");
                    ApiError::internal()
                }
            })?;
            Ok::<_, ApiError>(axum::Json(serde_json::json!({ "now": now.to_rfc3339() })))
        },
    )
}

/// Runs queued jobs until the process ends.
pub async fn run_worker(queue: Arc<SqliteQueue>, worker: Worker) {
    loop {
        match queue.claim().await {
            Ok(Some(job)) => {
                let outcome = worker.handle(&job.body).await;
                let settled = match outcome {
                    Ok(()) => queue.ack(job.id).await,
                    Err(JobError::Malformed(e)) => {
                        tracing::error!(job = job.id, error = %e, "malformed job dead-lettered");
                        queue.bury(&job, &e).await
                    }
                    Err(e) => {
                        tracing::warn!(job = job.id, error = %e, "job failed; will retry");
                        queue.fail(&job, &e.to_string()).await
                    }
                };
                if let Err(e) = settled {
                    tracing::error!(error = %e, "queue");
                }
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                tracing::error!(error = %e, "queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Runs the sweeper function's sweep ([`paspor_http::sweep`]) every `every`, as the
/// EventBridge schedule does on AWS.
pub async fn run_sweeper(state: AppState, every: Duration) {
    // Only what a tick did is logged: most ticks find nothing.
    let logged = |metric: &str, n: u32| {
        if n > 0 {
            tracing::info!(metric, count = n, "swept");
        }
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = paspor_http::sweep(&state, logged).await {
            tracing::error!(error = %e, "sweep failed; next tick retries");
        }
    }
}

/// Opens the data directory, starts the worker and serves until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let local = Local::open(&config)?;
    if config.seed.is_some() {
        seed_demo(&local.state).await?;
    }
    let worker = Worker::new(local.embedded.ports(), &local.embedded.secrets);
    tokio::spawn(run_worker(local.embedded.queue.clone(), worker));
    tokio::spawn(run_sweeper(
        local.state.clone(),
        Duration::from_secs(config.sweep_secs.max(1)),
    ));
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    local
        .embedded
        .documents
        .set_base_url(&format!("http://{addr}"));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "paspor-local listening");
    // Where, never what: the values stay in the file (or the caller's own flags).
    println!(
        "ops token and webhook secret (unless --ops-token / --webhook-secret): {}",
        local.credentials_file.display()
    );
    println!("paspor-local listening on http://{addr}");
    axum::serve(
        listener,
        local
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    tracing::info!("paspor-local stopped");
    Ok(())
}

/// The demo seed: real offices, and quota from tomorrow for 30 days (08:00–15:00, 20
/// places an hour, weekdays; a few offices in lanes, `offices::demo_quota`). It only adds
/// what is missing, so it is safe on every start.
pub async fn seed_demo(state: &AppState) -> anyhow::Result<()> {
    let clock = state.ports.clock.clone();
    let (mut offices, mut slots_opened) = (0, 0);
    for office in demo_offices() {
        if state.quota.add_office_if_missing(&office).await? {
            offices += 1;
        }
        let tomorrow = office.timezone.today(clock.now()) + TimeDelta::days(1);
        for (from, to, slots) in demo_quota_runs(&office.office_id, tomorrow, 30) {
            slots_opened += state
                .quota
                .open_quota(&office.office_id, from, to, &slots, false, true)
                .await?;
        }
    }
    let (release_id, spec) = paspor_domain::releases::demo_release(clock.now());
    let release = match state.releases.get(&release_id).await {
        Err(paspor_domain::Error::NotFound) => {
            state.releases.put(&release_id, spec).await?;
            "added"
        }
        other => {
            other?;
            "kept"
        }
    };
    tracing::info!(offices, slots_opened, release, "demo seed applied");
    println!(
        "seed demo: {offices} offices added, {slots_opened} hourly slots opened, release {release_id} {release}"
    );
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
