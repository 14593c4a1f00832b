#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    let (ports, secrets, source) = paspor_lambda::from_env_refreshable().await?;
    // Rebuilt when the secrets change, so NIKs sealed under a rotated key open here too.
    let worker = paspor_lambda::Refreshing::new(
        secrets,
        source,
        paspor_lambda::SECRETS_REFRESH,
        move |s: &paspor_domain::Secrets| paspor_worker::Worker::new(ports.clone(), s),
    );
    let worker = &worker;
    paspor_lambda::run_sqs(|body| async move {
        let worker = worker.get().await;
        worker.handle(&body).await.map_err(|e| e.to_string())
    })
    .await
}
