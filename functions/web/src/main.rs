use lambda_http::tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let router = paspor_web::router(paspor_web::Config::from_env());
    // With a named stage the page is at `/{stage}/`: the router serves `/`.
    lambda_http::run(router.map_request(paspor_apigw::at_stage_root)).await
}
