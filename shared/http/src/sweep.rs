//! The periodic sweep: the sweeper function runs it on its EventBridge schedule,
//! `paspor-local` on a timer.

use crate::AppState;

/// Expires the unpaid billings past their deadline, then deletes the stored objects past
/// their retention, and answers the run's summary. `count` hears what each step did, by its
/// metric name (`Expiries`, `DocumentPurges`).
///
/// Each step runs whatever the other did, so a billing that fails to expire cannot keep
/// documents past their retention, nor the reverse; the first failure is the run's. Both
/// steps are safe to repeat, so the next run finishes what a failed one left.
pub async fn sweep(
    state: &AppState,
    count: impl Fn(&'static str, u32),
) -> Result<String, paspor_domain::Error> {
    // Expiries first: a long draw must never keep unpaid places from coming back.
    let expired = state.payments.sweep().await;
    if let Ok(n) = expired {
        count("Expiries", n);
    }
    let purged = state.operations.purge_documents().await;
    if let Ok(n) = purged {
        count("DocumentPurges", n);
    }
    let drawn = state.releases.run().await;
    if let Ok(n) = drawn {
        count("ReleaseSteps", n);
    }
    // A failed draw step fails the run (and alarms as the sweeper's errors do) once the
    // other steps had their turn; the next run goes on where it stopped.
    drawn?;
    match (expired, purged) {
        (Ok(expired), Ok(purged)) => {
            Ok(format!("expired {expired}, documents purged for {purged}"))
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(also)) => {
            tracing::error!(error = %also, "document purge failed too");
            Err(e)
        }
    }
}
