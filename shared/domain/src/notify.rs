//! Emails about an application's changes, queued for the worker.

use crate::{
    Ports,
    jobs::{Job, Notice},
};

/// Queues an email about an application. A failure is logged, not fatal: the state change
/// it reports is already committed, and the applicant sees it in the app.
pub async fn notify(ports: &Ports, account_id: &str, notice: Notice) {
    queue(ports, account_id, notice, false).await;
}

/// [`notify`] for what a draw tells (outcomes, winners' billings), on the draw's queue.
pub async fn notify_from_draw(ports: &Ports, account_id: &str, notice: Notice) {
    queue(ports, account_id, notice, true).await;
}

async fn queue(ports: &Ports, account_id: &str, notice: Notice, from_draw: bool) {
    let job = Job::Notify {
        id: ulid::Ulid::new().to_string(),
        account_id: account_id.to_owned(),
        notice,
        from_draw,
    };
    if let Err(e) = ports.queue.enqueue(&job).await {
        tracing::warn!(error = %e, "notification not queued");
    }
}
