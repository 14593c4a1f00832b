use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    paspor_http::telemetry::init(false);
    paspor_local::serve(paspor_local::Config::parse()).await
}
