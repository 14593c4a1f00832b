#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    paspor_lambda::run_scheduled(|state| async move {
        let expired = state.payments.sweep().await?;
        paspor_http::metrics::count("Expiries", f64::from(expired));
        Ok(format!("expired {expired}"))
    })
    .await
}
