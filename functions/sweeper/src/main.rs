#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    paspor_lambda::run_scheduled(|state| async move {
        state.payments.sweep().await.map(|n| format!("expired {n}"))
    })
    .await
}
