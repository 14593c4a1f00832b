//! Test support shared by the conformance suite (the ports on both backends) and the
//! black-box tests (the whole API over HTTP against `paspor-local`).

#[cfg(feature = "aws")]
pub mod aws;
pub mod conformance;
pub mod counting;
pub mod faults;
pub mod fixture;
pub mod local;
