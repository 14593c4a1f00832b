//! Emails about an application's changes, queued for the worker.

use crate::{
    Ports,
    jobs::{Job, Notice},
};

/// Queues an email about an application. A failure is logged, not fatal: the state change
/// it reports is already committed, and the applicant sees it in the app.
pub async fn notify(ports: &Ports, account_id: &str, notice: Notice) {
    let job = Job::Notify {
        id: ulid::Ulid::new().to_string(),
        account_id: account_id.to_owned(),
        notice,
        from_draw: false,
    };
    if let Err(e) = ports.queue.enqueue(&job).await {
        tracing::warn!(error = %e, "notification not queued");
    }
}

/// What a draw tells (an outcome, a winner's billing), on the draw's queue, under an id of
/// its own (`id`): told again after a crash or by a redelivered batch, it is sent once (the
/// worker's sent mark). A failure is answered: the batch fails and comes back to tell it.
pub async fn notify_from_draw(
    ports: &Ports,
    id: String,
    account_id: &str,
    notice: Notice,
) -> Result<(), crate::jobs::QueueError> {
    let job = Job::Notify {
        id,
        account_id: account_id.to_owned(),
        notice,
        from_draw: true,
    };
    ports.queue.enqueue(&job).await
}
