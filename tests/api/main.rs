//! Black-box tests of the whole API over HTTP against a real `paspor-local` process.
//! (Registered as a test of the `paspor-local` package so Cargo builds the binary first.)

mod abuse;
mod accounts;
mod applications;
mod booking;
mod extremes;
mod lanes;
mod openapi;
mod operators;
mod payments;
mod privacy;
mod protocol;
mod releases;
mod template;

use paspor_tests::local::LocalServer;

pub const BIN: &str = env!("CARGO_BIN_EXE_paspor-local");

pub fn server() -> LocalServer {
    LocalServer::start(BIN)
}
