#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    paspor_lambda::run_scheduled(|state| async move {
        let expired = state.payments.sweep().await?;
        paspor_http::metrics::count("Expiries", f64::from(expired));
        let purged = state.operations.purge_documents().await?;
        paspor_http::metrics::count("DocumentPurges", f64::from(purged));
        Ok(format!("expired {expired}, documents purged for {purged}"))
    })
    .await
}
