#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    let (ports, secrets) = paspor_lambda::from_env().await?;
    let worker = paspor_worker::Worker::new(ports, &secrets);
    paspor_lambda::run_sqs(|body| {
        let worker = worker.clone();
        async move { worker.handle(&body).await.map_err(|e| e.to_string()) }
    })
    .await
}
