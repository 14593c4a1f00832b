use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    paspor_stack::run(paspor_stack::Config::parse()).await
}
