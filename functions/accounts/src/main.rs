#[tokio::main]
async fn main() -> Result<(), paspor_lambda::Error> {
    paspor_lambda::run_http(paspor_accounts::function_routes()).await
}
