#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    paspor_lambda::run_scheduled(|state| async move {
        paspor_http::sweep(&state, |metric, n| {
            paspor_http::metrics::count(metric, f64::from(n));
        })
        .await
    })
    .await
}
