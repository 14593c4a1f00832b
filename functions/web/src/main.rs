#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(paspor_web::router(paspor_web::Config::from_env())).await
}
